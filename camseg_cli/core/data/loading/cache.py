"""Sample cache (`--cache ram|disk`): decoded images and index masks, so epochs after the first skip PNG
decoding and label lookup. Augmentation still runs on every read, on the cached arrays.

Samples are packed into two flat buffers (images uint8, masks uint8) with one (h, w) per sample, so a
dataset of mixed image sizes caches the same way as a uniform one. A disk cache is one folder,
`<cache_dir>/<key>/` (`meta.json`, `images.u8`, `masks.u8`), where the key fingerprints the split's files
(path, size, mtime, ctime) and the class map. It is written in a temporary folder and published by one
rename, and checked before every use (format, key, sample count, byte sizes, and the CRC-32 of its bytes
when a process opens it): a stale, truncated, partial or damaged cache is rebuilt, never trusted.
Caches of the same split with an older key are removed.

The RAM cache is built in the main process before DataLoader workers start: forked workers (Linux)
share its pages copy-on-write, but under the spawn/forkserver start methods each worker receives its
own copy — use `disk` there, whose file every worker maps from the one page cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from camseg_cli.core.choices import CACHE_MODES
from camseg_cli.core.cpus import pool_size
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.sources.layouts import SegDataset, Transform
from camseg_cli.core.data.sources.samples import SampleRef, opened, read_sample
from camseg_cli.core.errors import CamsegError

log = logging.getLogger("camseg")

MODES = CACHE_MODES
FORMAT, VERSION = "camseg-sample-cache", 2  # 2: CRC-32 of each buffer in meta.json
META, IMAGES, MASKS = "meta.json", "images.u8", "masks.u8"
MAX_THREADS = 4  # decoding threads, no more than the compute threads (cpus.pool_size)
MASK_DTYPE = np.dtype(np.uint8)  # a ClassMap has at most 255 classes


def _source(refs: Sequence[SampleRef], classes: ClassMap) -> str:
    """Which split of which dataset: the files' absolute paths and the class map, not their contents."""
    h = hashlib.sha256(f"{FORMAT}:{VERSION};{json.dumps(classes.to_dict(), sort_keys=True)}".encode())
    for ref in refs:
        h.update(f"{ref.kind}:{ref.image.resolve()}:{ref.mask.resolve()};".encode())
    return h.hexdigest()[:32]


def fingerprint(refs: Sequence[SampleRef], classes: ClassMap) -> str:
    """Key of a split's cache: changes when any file's path, size, mtime or ctime or the class map does.

    ctime is included because a copy that restores mtimes (rsync -t, tar) cannot fake it.
    """
    h = hashlib.sha256(_source(refs, classes).encode())
    for ref in refs:
        for p in (ref.image, ref.mask):
            try:
                st = p.stat()
            except OSError as e:
                raise CamsegError(f"{p}: cannot read it ({e.strerror or e})") from None
            h.update(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns};".encode())
    return h.hexdigest()[:32]


class Packed:
    """Every sample of a split in two flat buffers; sample i is shapes[i] = (h, w) pixels at its offset."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, shapes: np.ndarray):
        self.images, self.masks, self.shapes = images, masks, np.asarray(shapes, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.shapes[:, 0] * self.shapes[:, 1])])

    @property
    def pixels(self) -> int:
        return int(self.starts[-1])

    def __len__(self) -> int:
        return len(self.shapes)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Views (no copy) of image i (h, w, 3) and mask i (h, w)."""
        h, w = (int(v) for v in self.shapes[i])
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return self.images[3 * a : 3 * b].reshape(h, w, 3), self.masks[a:b].reshape(h, w)


def _shapes(refs: Sequence[SampleRef]) -> np.ndarray:
    """(h, w) of every image from its header alone; pixels are decoded once, while caching."""
    shapes = []
    for ref in refs:
        with opened(ref.image) as im:  # header only; a FIFO or dangling link is refused unopened
            w, h = im.size
        shapes.append((h, w))
    return np.asarray(shapes, dtype=np.int64).reshape(-1, 2)


def _decoded(refs: Sequence[SampleRef], classes: ClassMap) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(i, image, mask) in order, decoded by a few threads (PIL's PNG decoder and numpy's gathers release
    the GIL) at most 2*threads samples ahead."""
    threads = pool_size(MAX_THREADS)
    with ThreadPoolExecutor(threads) as pool:
        window: deque[Future] = deque()
        for i, ref in enumerate(refs):
            window.append(pool.submit(read_sample, ref, classes))
            if len(window) > 2 * threads:
                yield i - len(window) + 1, *window.popleft().result()
        start = len(refs) - len(window)
        for j, future in enumerate(window):
            yield start + j, *future.result()


def _fill(refs: Sequence[SampleRef], classes: ClassMap, shapes: np.ndarray, sink: Any) -> None:
    """Decode every sample and hand it to sink(i, image, mask); a size unlike its header is an error."""
    for i, image, mask in _decoded(refs, classes):
        if tuple(mask.shape) != tuple(shapes[i]):
            raise CamsegError(f"{refs[i].image}: changed while it was being cached — run again")
        sink(i, image, mask)


def build_ram(refs: Sequence[SampleRef], classes: ClassMap) -> Packed:
    """Decode a split into RAM once (read-only buffers, so a transform can never alter the cache)."""
    shapes = _shapes(refs)
    pixels = int((shapes[:, 0] * shapes[:, 1]).sum())
    packed = Packed(np.empty(3 * pixels, np.uint8), np.empty(pixels, MASK_DTYPE), shapes)
    log.info("caching %d samples in RAM (%.0f MB)", len(refs), packed.pixels * 4 / 1e6)

    def copy(i: int, image: np.ndarray, mask: np.ndarray) -> None:
        dst_image, dst_mask = packed.sample(i)
        dst_image[...], dst_mask[...] = image, mask

    _fill(refs, classes, shapes, copy)
    packed.images.setflags(write=False)
    packed.masks.setflags(write=False)
    return packed


# ----------------------------------------------------------------------------------------- on disk


def _crc(path: Path) -> int:
    """CRC-32 of a file, read in 4 MiB blocks (about 1 GB/s: a second or two for all of CamVid)."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


def load_disk(folder: Path, key: str, count: int, verify: bool = False) -> Packed | None:
    """The cache in `folder` if it is complete and made for `key`; None if missing, stale or damaged.

    verify: also check each buffer's CRC-32, so bytes damaged in place (same size, garbage values)
    are caught; done once per process that opens the cache, not in every DataLoader worker."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if (meta.get("format"), meta.get("version"), meta.get("key")) != (FORMAT, VERSION, key):
            return None
        shapes = np.asarray(meta["shapes"], dtype=np.int64).reshape(-1, 2)
        dtype = np.dtype(meta["mask_dtype"])
        pixels = int((shapes[:, 0] * shapes[:, 1]).sum())
        sizes = {IMAGES: 3 * pixels, MASKS: pixels * dtype.itemsize}
        if len(shapes) != count or any((folder / f).stat().st_size != n for f, n in sizes.items()):
            return None  # truncated, grown or partly written: rebuild
        if verify and any(_crc(folder / f) != meta["crc32"][f] for f in sizes):
            return None  # right size, wrong bytes
        images = np.memmap(folder / IMAGES, dtype=np.uint8, mode="r", shape=(3 * pixels,))
        masks = np.memmap(folder / MASKS, dtype=dtype, mode="r", shape=(pixels,))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Packed(images.view(np.ndarray), masks.view(np.ndarray), shapes)  # plain arrays, as SegDataset's


def _write_disk(tmp: Path, key: str, source: str, refs: Sequence[SampleRef], classes: ClassMap) -> None:
    shapes = _shapes(refs)
    dtype = MASK_DTYPE
    with open(tmp / IMAGES, "wb") as fi, open(tmp / MASKS, "wb") as fm:
        # in sample order, with plain writes: a full disk is an OSError here, not a SIGBUS in a mmap
        _fill(refs, classes, shapes, lambda i, image, mask: (fi.write(image), fm.write(mask.astype(dtype))))
        for f in (fi, fm):
            f.flush()
            os.fsync(f.fileno())
    meta = {"format": FORMAT, "version": VERSION, "key": key, "source": source, "count": len(refs),
            "mask_dtype": dtype.name, "shapes": shapes.tolist(), "names": [r.name for r in refs],
            "crc32": {f: _crc(tmp / f) for f in (IMAGES, MASKS)}}  # fmt: skip
    (tmp / META).write_text(json.dumps(meta) + "\n", encoding="utf-8")


def _prune(cache_dir: Path, source: str, keep: str) -> None:
    """Remove older caches of the same split (a changed file gave it a new key)."""
    for folder in cache_dir.iterdir():
        if folder.name == keep or folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("format") == FORMAT and meta.get("source") == source:
            log.info("removing stale sample cache %s", folder)
            shutil.rmtree(folder, ignore_errors=True)


def open_disk(refs: Sequence[SampleRef], classes: ClassMap, cache_dir: Path | str) -> tuple[Path, Packed]:
    """Map the split's disk cache, building it first (atomically) if it is missing, stale or damaged."""
    cache_dir = Path(cache_dir)
    key = fingerprint(refs, classes)  # before any pixel is read: a file changed later gets a new key
    folder = cache_dir / key
    packed = load_disk(folder, key, len(refs), verify=True)
    if packed is not None:
        log.info("using sample cache %s", folder)
        return folder, packed
    if folder.exists():
        log.warning("%s: incomplete or damaged sample cache — rebuilding it", folder)
        shutil.rmtree(folder, ignore_errors=True)
    source = _source(refs, classes)
    tmp = cache_dir / f".{key}.{os.getpid()}.tmp"
    log.info("caching %d samples in %s", len(refs), folder)
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _write_disk(tmp, key, source, refs, classes)
        try:
            tmp.rename(folder)  # publishes the whole folder at once
        except OSError:
            if load_disk(folder, key, len(refs)) is None:  # no process beat us to it: a real failure
                raise
    except OSError as e:
        raise CamsegError(f"{cache_dir}: cannot write the sample cache ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(cache_dir, source, key)
    packed = load_disk(folder, key, len(refs))
    if packed is None:
        raise CamsegError(f"{folder}: sample cache unreadable right after writing it — remove {cache_dir}")
    return folder, packed


# ----------------------------------------------------------------------------------------- dataset


class CachedDataset(torch.utils.data.Dataset):
    """SegDataset's items (image uint8 HxWx3, mask int64 HxW, then transform) served from a cache."""

    def __init__(
        self,
        refs: Sequence[SampleRef],
        classes: ClassMap,
        packed: Packed,
        folder: Path | None = None,
        transform: Transform | None = None,
    ):
        self.refs, self.classes, self.transform = list(refs), classes, transform
        self.packed: Packed | None = packed
        self.folder = folder  # set for a disk cache: workers re-map it instead of unpickling its bytes
        self._key = folder.name if folder else ""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.folder is not None:
            state["packed"] = None  # a pickled memmap would carry the whole file
        return state

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> Any:
        if self.packed is None:
            self.packed = load_disk(self.folder, self._key, len(self.refs))
            if self.packed is None:
                raise CamsegError(f"{self.folder}: sample cache vanished or changed while in use")
        image, mask = self.packed.sample(i)
        mask = mask.astype(np.int64)  # a copy: the cache itself stays read-only
        return self.transform(image, mask) if self.transform else (image, mask)


def check_cache(cache: str) -> None:
    """Refuse an unknown --cache mode before any work is done."""
    if cache not in MODES:
        raise CamsegError(f"--cache {cache!r}: choose one of {', '.join(MODES)}")


def sample_dataset(
    refs: Sequence[SampleRef],
    classes: ClassMap,
    transform: Transform | None = None,
    cache: str = "none",
    cache_dir: Path | str = Path("out") / "cache",
) -> SegDataset | CachedDataset:
    """The samples of `refs`, decoded from their files on every read (none) or cached in RAM or on disk."""
    check_cache(cache)
    if cache == "none":
        return SegDataset(list(refs), classes, transform)
    if cache == "ram":
        return CachedDataset(refs, classes, build_ram(refs, classes), None, transform)
    folder, packed = open_disk(refs, classes, cache_dir)
    return CachedDataset(refs, classes, packed, folder, transform)
