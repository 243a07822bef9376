"""Safe extraction of tar and zip archives: every member is checked before anything is written.

Refused: absolute names (tarfile's own "data" filter would silently strip the leading '/'), any '..'
part, links that point outside the destination, and device files / FIFOs. Extraction goes to a fresh
temporary folder inside the destination's parent; a refused or failed archive leaves nothing behind.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath

from camseg_cli.core.errors import CamsegError

Track = Callable[[Iterable, str], Iterable]


def _bad_name(name: str) -> str | None:
    """Why a member name may not be extracted, or None when it is a plain relative path."""
    if not name or "\x00" in name:
        return "an empty or NUL-containing name"
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(name).drive or PureWindowsPath(name).root:
        return "an absolute path"
    if ".." in posix.parts:
        return "a '..' path leaving the destination"
    return None


def _bad_link(name: str, target: str, hard: bool) -> str | None:
    """A link is refused when its target, resolved from where it sits, leaves the destination."""
    if _bad_name(target) == "an absolute path":
        return f"a link to the absolute path {target}"
    base = PurePosixPath() if hard else PurePosixPath(name.replace("\\", "/")).parent
    depth = 0
    for part in (base / target.replace("\\", "/")).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return f"a link to {target}, outside the destination"
    return None


def _check(archive: Path, name: str, why: str | None) -> None:
    if why:
        raise CamsegError(f"{archive}: refused — member {name!r} is {why}; nothing was extracted")


def check_tar(archive: Path, members: list[tarfile.TarInfo], dest: Path) -> None:
    for m in members:
        _check(archive, m.name, _bad_name(m.name))
        if m.issym() or m.islnk():
            _check(archive, m.name, _bad_link(m.name, m.linkname, m.islnk()))
        elif not (m.isfile() or m.isdir()):
            _check(archive, m.name, "a device file, FIFO or other special file")
        if hasattr(tarfile, "data_filter"):  # Python's own rules too (3.8.17+, 3.11.4+)
            try:
                tarfile.data_filter(m, str(dest))
            except tarfile.FilterError as e:
                _check(archive, m.name, f"refused by tarfile's data filter ({e})")


def check_zip(archive: Path, members: list[zipfile.ZipInfo], zf: zipfile.ZipFile) -> None:
    for m in members:
        _check(archive, m.filename, _bad_name(m.filename))
        if stat.S_ISLNK(m.external_attr >> 16):  # zipfile writes links as small text files; check anyway
            target = zf.read(m).decode("utf-8", "replace")
            _check(archive, m.filename, _bad_link(m.filename, target, hard=False))


@contextmanager
def _staging(parent: Path) -> Iterator[Path]:
    """A fresh hidden folder in `parent`, removed on the way out whatever happens."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".camseg-extract-", dir=parent))
    except OSError as e:
        raise CamsegError(f"{parent}: cannot write here ({e.strerror or e})") from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract(archive: Path, dest: Path, track: Track | None) -> None:
    label = f"extracting {archive.name}"
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            check_zip(archive, members, zf)
            for m in track(members, label) if track else members:
                zf.extract(m, dest)
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            check_tar(archive, members, dest)
            items = track(members, label) if track else members
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=items, filter="data")
            else:  # older Python: every member already passed check_tar
                tf.extractall(dest, members=items)
        return
    raise CamsegError(f"{archive}: not a tar or zip archive — check the URL, or pass the right file")


def extract_into(archive: Path, dest: Path, pick: Callable[[Path], Path], track: Track | None = None) -> Path:
    """Extract `archive` safely, then move the folder `pick(extracted_root)` to `dest` (must not exist).

    Args:
        archive: a .tar(.gz|.bz2|.xz) or .zip file.
        dest: where the picked folder ends up; its parent holds the temporary extraction.
        pick: chooses the folder to keep from the extracted tree (raises CamsegError if none fits).
        track: optional progress wrapper over the members.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise CamsegError(f"{dest}: already exists — remove it or choose another --dest")
    with _staging(dest.parent) as tmp:
        try:
            _extract(archive, tmp, track)
        except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
            raise CamsegError(f"{archive}: cannot extract ({e.__class__.__name__}: {e})") from None
        keep = pick(tmp)
        keep.rename(dest)  # same filesystem: one rename publishes the whole folder
    return dest
