"""Datasets and where they come from: the built-in synthetic scenes, the CamVid download and safe archive
extraction; layouts on disk (detected from the folder), samples, splits and sequences, --skip-bad
validation, and the statistics of a split (class pixels, weights, dark frames).
"""
