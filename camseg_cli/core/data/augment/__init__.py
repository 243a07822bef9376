"""Augmentation: the presets by name, the user's own albumentations pipeline file, and the preview grid.
With data/corruption, the only place that calls albumentations.
"""
