"""The corruption suite: names and severities, its fixed parameter table, the operations albumentations
lacks, the corrupted dataset and its preview grid.
"""
