"""Evaluation, in four layers: scoring (one checkpoint: matrices, scores, CIs, corruptions, slices), stats
(the study's tests over seeds, pure numpy/scipy), compare (runs and arms judged, one judgement per cell) and
reports (report.md, charts, tables). Each layer imports only those below it. Imports `data` and `model`;
never `train`.
"""
