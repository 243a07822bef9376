"""Training: the run, one epoch and one validation pass (engine), loss, optimiser and schedule, config,
resume and run state, loaders and DDP. Imports `data`, `model` and `evaluation` (its confusion matrix).
"""
