"""camseg core: everything that computes. The CLI only parses and renders."""

from camseg_cli.core.errors import CamsegError

__all__ = ["CamsegError"]
