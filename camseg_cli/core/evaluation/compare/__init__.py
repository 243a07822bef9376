"""Judging runs against each other: arms from configurations, the one judgement per cell with its
withholding rule, verdicts, fragility, checkpoint pairs, conditions and shift.
"""
