"""Guards for the small text files a user hands camseg (config files, augmentation pipeline files):
size, regular file, UTF-8, and YAML that cannot expand past MAX_VALUES (tags are refused by safe_load)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from camseg_cli.core.errors import CamsegError

MAX_BYTES = 1 << 20  # a config is a few hundred bytes; a megabyte is a mistake (or an attack)
MAX_VALUES = 100_000  # what a YAML file may expand to through anchors and aliases


def _text(path: Path, what: str = "config file") -> str:
    """The file's text, refusing folders, special files, huge files and bytes that are not UTF-8."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CamsegError(f"{path}: {what} not found") from None
    except OSError as e:
        raise CamsegError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise CamsegError(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise CamsegError(f"{path}: not a regular file — a {what} is a plain file")
    if st.st_size > MAX_BYTES:
        raise CamsegError(f"{path}: too large for a {what} ({st.st_size:,} bytes; at most {MAX_BYTES:,})")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CamsegError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CamsegError(
            f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}) — save it as UTF-8"
        ) from None


def _yaml(text: str) -> Any:
    """yaml.safe_load that counts every value an alias expands to and stops past MAX_VALUES, so a few
    hundred bytes of anchors cannot become millions of values (a 'billion laughs')."""
    import yaml

    class Counting(yaml.SafeLoader):
        def __init__(self, stream: str):
            super().__init__(stream)
            self.values, self.sizes = 0, {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                node = super().compose_node(parent, index)
                self._add(self.sizes.get(id(node), 1))
                return node
            before = self.values
            node = super().compose_node(parent, index)
            self._add(1)
            self.sizes[id(node)] = self.values - before
            return node

        def _add(self, n: int) -> None:
            self.values += n
            if self.values > MAX_VALUES:
                raise _TooBig()

    loader = Counting(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _TooBig(Exception):
    pass
