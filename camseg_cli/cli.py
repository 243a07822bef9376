"""Entry point: imports every command module (each registers itself on the app) and runs it."""

from __future__ import annotations

import importlib
import pkgutil

from camseg_cli import commands
from camseg_cli.app import app

for _mod in pkgutil.iter_modules(commands.__path__):
    importlib.import_module(f"{commands.__name__}.{_mod.name}")


def main() -> None:
    app()


__all__ = ["app", "main"]
