"""A PNG grid of augmented image + mask pairs, one row per preset, so a person can see what each does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from camseg_cli.core.choices import VOID_TAG
from camseg_cli.core.data.augment.presets import AugSpec, TrainTransform, aug_name, parse_aug
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.sources.samples import DatasetInfo, read_sample
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import pyplot, save_figure

PAD_COLOR = (255, 0, 255)  # magenta marks ignore padding that is not a class of the map
OVERLAY_ALPHA = 0.55


def colorize(mask: np.ndarray, classes: ClassMap) -> np.ndarray:
    """HxW class indices -> HxWx3 colours; indices outside the map (ignore padding) in magenta."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:] = PAD_COLOR
    palette[: classes.num_classes] = classes.palette()
    return palette[mask.astype(np.uint8)]


def overlay(image: np.ndarray, mask: np.ndarray, classes: ClassMap) -> np.ndarray:
    """Mask colours blended over the image: misaligned edges show at a glance."""
    blend = (1 - OVERLAY_ALPHA) * image.astype(np.float32) + OVERLAY_ALPHA * colorize(mask, classes)
    return blend.round().astype(np.uint8)


Aug = str | tuple[str, str]  # presets, or a pipeline file's (name, canonical content)


def augmented_pairs(
    info: DatasetInfo, aug: Aug, size: tuple[int, int], samples: int, seed: int = 0, split: str = "train"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`samples` (image, mask) pairs drawn from the first images of `split`, augmented with `aug`
    (presets, or a pipeline file's (name, canonical content))."""
    refs = info.samples(split)
    if isinstance(aug, tuple):
        spec = AugSpec((), size, info.classes.ignore_index, seed, aug[1])
    else:
        spec = AugSpec(parse_aug(aug), size, info.classes.ignore_index, seed)
    transform = TrainTransform(spec)
    pairs = []
    for i in range(samples):
        image, mask = read_sample(refs[i % len(refs)], info.classes)
        transform.reseed(epoch=i // len(refs), index=i % len(refs))
        pairs.append(transform.augment(image, mask))
    return pairs


def write_preview(
    dest: Path | str,
    info: DatasetInfo,
    augs: Sequence[Aug],
    size: tuple[int, int],
    samples: int = 4,
    seed: int = 0,
    split: str = "train",
) -> Path:
    """Rows: presets; columns: `samples` x (augmented image, mask overlay). Same source images per row."""
    if samples < 1:
        raise CamsegError("--samples must be at least 1")
    if not augs:
        raise CamsegError("no augmentation presets to preview")
    plt = pyplot()

    h, w = size
    cols = 2 * samples
    cell = 2.2
    fig, axes = plt.subplots(
        len(augs), cols, figsize=(cols * cell, len(augs) * cell * h / w + 0.4), squeeze=False
    )
    for row, aug in enumerate(augs):
        for i, (image, mask) in enumerate(augmented_pairs(info, aug, size, samples, seed, split)):
            for j, (tile, label) in enumerate(
                ((image, "image"), (overlay(image, mask, info.classes), "mask"))
            ):
                ax = axes[row][2 * i + j]
                ax.imshow(tile, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"{label} {i + 1}", fontsize=8)
            axes[row][0].set_ylabel(aug[0] if isinstance(aug, tuple) else aug_name(aug), fontsize=9)
    pad = f"{info.classes.void_name} ({VOID_TAG})" if info.classes.void is not None else "magenta"
    fig.suptitle(
        f"augmentations at {h}x{w}: mask over image; padding is {pad}, ignored by the loss", fontsize=10
    )
    fig.tight_layout()
    return save_figure(dest, fig)
