"""Errors of the classifier area."""
from foundation.errors import ArtifactError, HotlineError, InvalidInput, NotReady


class ClassifierError(HotlineError):
    code = "classifier_error"


class ModelNotTrained(ClassifierError, NotReady):
    """A bundle directory holds no usable head and no taxonomy to fall back on."""

    code = "model_not_trained"


class BadModel(ClassifierError, ArtifactError):
    """A head directory is incomplete, from another format version, or inconsistent."""

    code = "bad_model"


class BadTrainingData(ClassifierError, InvalidInput):
    """Training data is missing a column, has too few rows or too few classes."""

    code = "bad_training_data"
