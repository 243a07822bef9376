"""Data: class maps, label decoding, on-disk layouts, splits and sequences, the sample cache, augmentation
and statistics. Imports only the shared `core` pieces (errors, choices, files, sizes); never `model`,
`train` or `evaluation`.
"""
