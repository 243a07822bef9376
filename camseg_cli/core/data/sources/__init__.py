"""Datasets on disk: layouts (detected from the folder), samples, splits and sequences, --skip-bad
validation, and the statistics of a split (class pixels, weights, dark frames).
"""
