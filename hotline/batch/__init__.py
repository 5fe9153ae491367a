"""Batch reclassification for analysts: stream a CSV/JSONL/XLSX file through
the classifier with N worker processes, in input order, resumably, with an
errors file and an optional change report against an existing label column.

No HTTP here; ``hotline reclassify`` is a thin layer over :func:`reclassify`.
"""
from hotline.batch.errors import (BatchError, MissingColumn, ModelUnavailable,
                                     ResumeMismatch, UnsupportedFormat)
from hotline.batch.predict import PRED_COLUMNS
from hotline.batch.runner import Options, Summary, default_paths, reclassify, resolve_model

__all__ = ["reclassify", "Options", "Summary", "PRED_COLUMNS", "default_paths", "resolve_model",
           "BatchError", "MissingColumn", "ModelUnavailable", "ResumeMismatch",
           "UnsupportedFormat"]
