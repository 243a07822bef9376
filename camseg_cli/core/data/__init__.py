"""Data, in five sub-packages: classes (class maps, labels, remapping), sources (layouts on disk, samples,
splits, dataset statistics), loading (cache, read-ahead, tensors), augment (presets, pipeline files) and
corruption (the suite). Imports only the shared `core` pieces (errors, choices, files, sizes); never
`model`, `train` or `evaluation`.
"""
