"""A sample on disk (image + mask), a dataset's splits of them, and reading one into arrays."""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from camseg_cli.core.data.classes.cityscapes import decode_ids
from camseg_cli.core.data.classes.labels import check_index_mask, decode_rgb_mask
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.errors import CamsegError

SPLITS = ("train", "val", "test")
MAX_PIXELS_ENV = "CAMSEG_MAX_IMAGE_PIXELS"
WIDE_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit (and 32-bit integer) greyscale modes


@dataclass(frozen=True)
class SampleRef:
    """One image and its mask on disk; `kind` says how the mask encodes classes."""

    name: str
    image: Path
    mask: Path
    kind: str  # "rgb", "index", or Cityscapes "labelid" / "trainid" (see cityscapes_labels)
    sequence: str | None = None  # the drive it belongs to, where the layout knows (else from the name)
    condition: str | None = None  # ACDC's fog / night / rain / snow


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset folder read once: its layout, class map and the samples of each split."""

    root: Path
    layout: str
    classes: ClassMap
    splits: dict[str, list[SampleRef]] = field(default_factory=dict)
    unlabelled: dict[str, str] = field(default_factory=dict)  # split -> why it has no labels

    def samples(self, split: str) -> list[SampleRef]:
        if split not in SPLITS:
            raise CamsegError(f"unknown split {split!r} — choose one of {', '.join(SPLITS)}")
        refs = self.splits.get(split, [])
        if not refs and split in self.unlabelled:
            raise CamsegError(f"{self.root}: split {split!r} has no labels — {self.unlabelled[split]}")
        if not refs:
            raise CamsegError(f"{self.root}: split {split!r} is empty — no images found for it")
        return refs


def evenly_spaced(refs: Sequence[SampleRef], count: int) -> list[SampleRef]:
    """Up to `count` samples spread evenly over `refs` (first and last included), in order."""
    picks = np.unique(np.linspace(0, len(refs) - 1, num=min(count, len(refs))).round().astype(int))
    return [refs[i] for i in picks]


def image_exts() -> frozenset[str]:
    """File extensions of every format Pillow can open here (.png, .jpg, .webp, .tif, .bmp, ...)."""
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def _pixel_limit() -> None:
    """Pillow refuses images over 2 x MAX_IMAGE_PIXELS (a decompression-bomb guard); keep it, but let a
    user who trusts larger files raise it with CAMSEG_MAX_IMAGE_PIXELS (read in every worker too)."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if raw:
        try:
            Image.MAX_IMAGE_PIXELS = int(raw) if int(raw) > 0 else None
        except ValueError:
            raise CamsegError(f"{MAX_PIXELS_ENV}={raw!r}: not a whole number of pixels") from None


def special_file(path: Path | str) -> str | None:
    """Why `path` is no regular file to open (a dangling symlink, a symlink loop, a FIFO, a device...),
    or None when it is one. Only stat is called: opening a FIFO would wait for a writer forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"dangling symlink (to {os.readlink(path)}, which does not exist)"
        return "file not found"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop (the link leads back to itself)"
        return f"cannot read it ({e.strerror or e})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not an image file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file — not opened"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "a device, not a regular file"


def image_error(path: Path | str, e: BaseException) -> CamsegError:
    """The one-line error for anything the image library raised while reading `path`."""
    if isinstance(e, FileNotFoundError):
        return CamsegError(f"{path}: file not found")
    if isinstance(e, Image.DecompressionBombError):
        limit = Image.MAX_IMAGE_PIXELS or 0
        return CamsegError(
            f"{path}: image too large to open safely ({e}) — if you trust it, allow larger images "
            f"with {MAX_PIXELS_ENV}=N (pixels; Pillow refuses more than 2 x N, now 2 x {limit})"
        )
    first = str(e).strip().splitlines()[0] if str(e).strip() else "no detail"
    return CamsegError(f"{path}: not a readable image ({e.__class__.__name__}: {first})")


@contextmanager
def opened(path: Path | str) -> Iterator[Image.Image]:
    """Image.open(path) whose every failure (missing, unidentified, truncated, oversized, ...) becomes
    image_error's one line, also in DataLoader workers."""
    _pixel_limit()
    if why := special_file(path):
        raise CamsegError(f"{path}: {why}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # 1-2 x limit: refuse too
            img = Image.open(path)
    except Exception as e:  # PIL raises many types: OSError, SyntaxError, ValueError, its bomb error...
        raise image_error(path, e) from None
    with img:
        try:
            yield img
        except CamsegError:
            raise
        except Exception as e:  # decoding happens lazily, inside the caller's block
            raise image_error(path, e) from None


def _decode(path: Path, convert: Callable[[Image.Image], np.ndarray]) -> np.ndarray:
    with opened(path) as img:
        img.load()
        return convert(img)


def _rgb(img: Image.Image, path: Path) -> np.ndarray:
    """HxWx3 uint8 as a viewer shows it: EXIF orientation applied, 16-bit grey scaled to 8 bits."""
    img = ImageOps.exif_transpose(img)  # a phone photo's Orientation tag: rotate as viewers do
    if img.mode in WIDE_GREY:
        wide = np.asarray(img)
        if wide.min() < 0 or wide.max() > 65535:
            raise CamsegError(
                f"{path}: {img.mode} image with values outside 0..65535 — save it as 8 or 16 bit"
            )
        grey = ((wide.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)  # 0..65535 -> 0..255
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode == "F":
        raise CamsegError(f"{path}: 32-bit float image — convert it to an 8-bit (or 16-bit) image first")
    return np.asarray(img.convert("RGB"))


def read_image(path: Path) -> np.ndarray:
    """Any image file Pillow reads -> HxWx3 uint8 RGB, oriented as its EXIF tag says."""
    return _decode(Path(path), lambda img: _rgb(img, Path(path)))


def read_mask(ref: SampleRef, classes: ClassMap) -> np.ndarray:
    """The mask of a sample -> HxW int64 class indices."""
    return _decode(ref.mask, lambda img: _mask_array(img, ref, classes))


def _mask_array(img: Image.Image, ref: SampleRef, classes: ClassMap) -> np.ndarray:
    if ref.kind == "rgb":
        return decode_rgb_mask(np.asarray(img.convert("RGB")), classes, str(ref.mask))
    if img.mode not in ("L", "P", "I", "I;16"):
        raise CamsegError(f"{ref.mask}: index mask has mode {img.mode}; expected a single-channel image")
    if ref.kind in ("labelid", "trainid"):
        return decode_ids(np.asarray(img), ref.kind, str(ref.mask))
    return check_index_mask(np.asarray(img), classes, str(ref.mask))


def read_sample(ref: SampleRef, classes: ClassMap) -> tuple[np.ndarray, np.ndarray]:
    image = read_image(ref.image)
    mask = read_mask(ref, classes)
    if image.shape[:2] != mask.shape:
        raise CamsegError(
            f"{ref.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but image {ref.image.name} is "
            f"{image.shape[1]}x{image.shape[0]} (WxH) — they must match"
        )
    return image, mask
