"""A sample on disk (image + mask), a dataset's splits of them, and reading one into arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from camseg_cli.core.data.classes import ClassMap
from camseg_cli.core.data.labels import check_index_mask, decode_rgb_mask
from camseg_cli.core.errors import CamsegError

SPLITS = ("train", "val", "test")
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True)
class SampleRef:
    """One image and its mask on disk; `kind` says how the mask encodes classes."""

    name: str
    image: Path
    mask: Path
    kind: str  # "rgb" or "index"


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset folder read once: its layout, class map and the samples of each split."""

    root: Path
    layout: str
    classes: ClassMap
    splits: dict[str, list[SampleRef]] = field(default_factory=dict)

    def samples(self, split: str) -> list[SampleRef]:
        if split not in SPLITS:
            raise CamsegError(f"unknown split {split!r} — choose one of {', '.join(SPLITS)}")
        refs = self.splits.get(split, [])
        if not refs:
            raise CamsegError(f"{self.root}: split {split!r} is empty — no images found for it")
        return refs


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise CamsegError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CamsegError(f"{path}: not a readable image ({e.__class__.__name__}: {e})") from None


def read_image(path: Path) -> np.ndarray:
    """Any image file -> HxWx3 uint8 RGB."""
    return np.asarray(_open(path).convert("RGB"))


def read_mask(ref: SampleRef, classes: ClassMap) -> np.ndarray:
    """The mask of a sample -> HxW int64 class indices."""
    img = _open(ref.mask)
    if ref.kind == "rgb":
        return decode_rgb_mask(np.asarray(img.convert("RGB")), classes, str(ref.mask))
    if img.mode not in ("L", "P", "I", "I;16"):
        raise CamsegError(f"{ref.mask}: index mask has mode {img.mode}; expected a single-channel image")
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
