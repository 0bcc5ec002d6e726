"""Metrics over prediction records (``details.jsonl`` rows): accuracy with Wilson intervals by group,
chance and majority baselines, answer-position histograms, calibration (ECE, Brier), router accuracy,
retrieval usage; and the paired McNemar test for comparing runs."""
from .compute import compute_metrics
from .stats import brier, ece, mcnemar, reliability, wilson

__all__ = ["brier", "compute_metrics", "ece", "mcnemar", "reliability", "wilson"]
