"""Request classification: type and department heads with calibrated
confidence, a human-review zone and evidence (see docs/classifier.md).

Serving code: never imports torch or training/."""
from classifier.bundle import (ClassifierBundle, Prediction, load_bundle, prediction_columns,
                               write_bundle_manifest)
from classifier.errors import BadModel, BadTrainingData, ClassifierError, ModelNotTrained
from classifier.head import RECIPES, TextHead

__all__ = ["ClassifierBundle", "Prediction", "load_bundle", "prediction_columns",
           "write_bundle_manifest", "TextHead", "RECIPES", "ClassifierError", "BadModel",
           "BadTrainingData", "ModelNotTrained"]
