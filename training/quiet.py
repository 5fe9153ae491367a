"""Quantising without the quantiser's chatter.

onnxruntime's quantisation tools log every tensor they skip at INFO on the
*root* logger ("Quantization parameters for tensor … not specified", "Ignore
MatMul due to non constant B"): 144 of the 309 lines that `hotline train
--encoder` printed. :func:`quiet_quantizer` raises the root logger to WARNING
while they run; their warnings and errors still show.
"""
from __future__ import annotations

import contextlib
import logging


@contextlib.contextmanager
def quiet_quantizer():
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)
