"""Rendering a comparison: report.md, its charts and CSV/JSON tables. Reads finished results; computes no
score and runs no model (an import-linter contract).
"""
