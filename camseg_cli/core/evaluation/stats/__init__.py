"""The study's statistics over seeds, pure numpy/scipy: the paired t over shared seeds, Holm, the verdict
words, and exact power. Imports nothing else of camseg (an import-linter contract).
"""
