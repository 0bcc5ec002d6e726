"""Evaluation: retrieval metrics, per-domain accuracy with intervals, ablation grids, reports."""
