"""A PNG grid of one frame under each corruption at every severity, so a user sees what severity 3 means."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from camseg_cli.core.data.augment.preview import overlay
from camseg_cli.core.data.corruption.suite import corrupt, family_of
from camseg_cli.core.data.corruption.table import BY_NAME, SEVERITIES
from camseg_cli.core.data.sources.samples import DatasetInfo, read_sample
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import pyplot, save_figure


def corrupt_grid(
    image: np.ndarray, mask: np.ndarray, names: Sequence[str], seed: int, image_name: str, ignore_index: int
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Rows: corruptions; columns: clean, then severities 1-5; each cell (image, mask)."""
    return [
        [(image, mask)] + [corrupt(image, mask, n, s, seed, image_name, ignore_index) for s in SEVERITIES]
        for n in names
    ]


def write_corrupt_preview(
    dest: Path | str,
    info: DatasetInfo,
    names: Sequence[str],
    split: str = "test",
    index: int = 0,
    seed: int = 0,
) -> Path:
    """One row per corruption, clean + severities 1-5; geometric rows show the warped mask over the image."""
    if not names:
        raise CamsegError("no corruptions to preview")
    refs = info.samples(split)
    if not 0 <= index < len(refs):
        raise CamsegError(f"--index {index}: split {split!r} holds {len(refs)} images")
    ref = refs[index]
    image, mask = read_sample(ref, info.classes)
    grid = corrupt_grid(image, mask, names, seed, ref.name, info.classes.ignore_index)
    plt = pyplot()
    h, w = image.shape[:2]
    cols, cell = 1 + len(SEVERITIES), 2.0
    fig, axes = plt.subplots(
        len(names), cols, figsize=(cols * cell, len(names) * cell * h / w + 0.5), squeeze=False
    )
    for row, (name, cells) in enumerate(zip(names, grid)):
        for col, (img, msk) in enumerate(cells):
            ax = axes[row][col]
            tile = overlay(img, msk, info.classes) if BY_NAME[name].geometric and col else img
            ax.imshow(tile, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("clean" if col == 0 else f"severity {col}", fontsize=8)
        axes[row][0].set_ylabel(f"{name}\n({family_of(name)})", fontsize=7)
    fig.suptitle(
        f"{ref.name}: corruptions at severities 1-5 (seed {seed}; geometric rows: mask over image)",
        fontsize=9,
        y=0.999,
    )
    fig.tight_layout()
    return save_figure(dest, fig)
