"""From samples to batches: the decoded-sample cache, read-ahead on a thread, and the arrays-to-tensors
step.
"""
