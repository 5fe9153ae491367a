"""Entry points other areas call (training.prepare): see training/train_classifier.py."""
from training.train_classifier import train_demo, train_head

__all__ = ["train_demo", "train_head"]
