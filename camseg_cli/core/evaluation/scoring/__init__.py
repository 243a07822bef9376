"""Scoring one checkpoint: the confusion matrix and the one IoU function, the evaluation pass and its cached
result, bootstrap CIs over images, input dependence, corruptions and slices.
"""
