"""Where datasets come from: the built-in synthetic scenes, the CamVid download and safe archive extraction.
Part of `data`: imports `data` and the shared `core` pieces, nothing of the later stages.
"""
