"""Evaluation: confusion matrix and scores, bootstrap, evaluate, cached results, compare and its report.
Imports `data` and `model`; never `train`.
"""
