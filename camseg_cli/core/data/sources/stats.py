"""Dataset statistics: class pixel counts per split, image sizes, void share, dark images."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from camseg_cli.core.choices import DARK_THRESHOLD as DEFAULT_DARK_THRESHOLD
from camseg_cli.core.choices import VOID_TAG
from camseg_cli.core.data.sources.class_weights import weight_table
from camseg_cli.core.data.sources.samples import SPLITS, DatasetInfo, read_sample
from camseg_cli.core.files import printable, pyplot

# Rec. 601 luma, what "brightness" means in most image tools.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)

Track = Callable[[Iterable, str], Iterable]


@dataclass
class SplitStats:
    """Counts for one split. `pixels[c]` is the number of pixels labelled class c."""

    images: int
    pixels: np.ndarray
    sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> image count
    dark: list[tuple[str, float]] = field(default_factory=list)  # (image path, mean luminance)


@dataclass
class DatasetStats:
    info: DatasetInfo
    splits: dict[str, SplitStats]
    dark_threshold: float

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.classes.names

    def counts_frame(self) -> pd.DataFrame:
        """Long table: split, class, pixels, fraction (of the split's labelled pixels, void included)."""
        rows = []
        for split, s in self.splits.items():
            total = max(int(s.pixels.sum()), 1)
            for name, n in zip(self.class_names, s.pixels):
                rows.append({"split": split, "class": name, "pixels": int(n), "fraction": int(n) / total})
        return pd.DataFrame(rows, columns=["split", "class", "pixels", "fraction"])

    def weights_frame(self) -> tuple[pd.DataFrame, list[str]]:
        """Class frequencies and median-frequency / ENet weights of the train split (or the first split
        present), as `camseg train --class-weights` computes them; and the classes with no pixels there."""
        split = "train" if "train" in self.splits else next(iter(self.splits))
        pixels, void = self.splits[split].pixels, self.info.classes.void
        frame = pd.DataFrame({"class": self.class_names, "pixels": pixels} | weight_table(pixels, void))
        missing = [n for i, (n, p) in enumerate(zip(self.class_names, pixels)) if p == 0 and i != void]
        return frame, missing

    def void_fraction(self, split: str) -> float:
        void = self.info.classes.void
        s = self.splits[split]
        return float(s.pixels[void] / max(s.pixels.sum(), 1)) if void is not None else 0.0

    def to_json(self) -> dict:
        return {
            "layout": self.info.layout,
            "root": str(self.info.root),
            "classes": list(self.class_names),
            "void": self.info.classes.void_name,
            "splits": {
                split: {
                    "images": s.images,
                    "sizes": s.sizes,
                    "pixels": {n: int(c) for n, c in zip(self.class_names, s.pixels)},
                    "void_fraction": self.void_fraction(split),
                    "dark_images": [{"image": p, "luminance": round(lum, 2)} for p, lum in s.dark],
                }
                for split, s in self.splits.items()
            },
            "dark_threshold": self.dark_threshold,
        }


def mean_luminance(image: np.ndarray) -> float:
    """Mean Rec. 601 luma of an HxWx3 uint8 image, in 0..255."""
    return float(image.reshape(-1, 3).mean(0) @ LUMA)


def split_stats(
    info: DatasetInfo, split: str, dark_threshold: float = DEFAULT_DARK_THRESHOLD, track: Track | None = None
) -> SplitStats:
    """Read every sample of a split once: bincount of its mask, its size, its luminance."""
    refs = info.samples(split)
    n = info.classes.num_classes
    pixels = np.zeros(n, dtype=np.int64)
    sizes: dict[str, int] = {}
    dark = []
    items = track(refs, f"stats {split}") if track else refs
    for ref in items:
        image, mask = read_sample(ref, info.classes)
        pixels += np.bincount(mask.ravel(), minlength=n)
        key = f"{image.shape[1]}x{image.shape[0]}"
        sizes[key] = sizes.get(key, 0) + 1
        lum = mean_luminance(image)
        if lum < dark_threshold:
            dark.append((str(ref.image), lum))
    return SplitStats(len(refs), pixels, sizes, sorted(dark, key=lambda d: d[1]))


def dataset_stats(
    info: DatasetInfo,
    splits: Iterable[str] | None = None,
    dark_threshold: float = DEFAULT_DARK_THRESHOLD,
    track: Track | None = None,
) -> DatasetStats:
    """Statistics of every non-empty split (or the ones asked for)."""
    wanted = list(splits) if splits else [s for s in SPLITS if info.splits.get(s)]
    return DatasetStats(
        info, {s: split_stats(info, s, dark_threshold, track) for s in wanted}, dark_threshold
    )


def plot_counts(stats: DatasetStats):
    """Grouped bars of pixel counts per class and split, log scale; void apart on the right (not scored),
    and a class with no pixels in any split marked 0 instead of a stub bar."""
    plt = pyplot()

    void = stats.info.classes.void
    order = [i for i in range(len(stats.class_names)) if i != void] + ([void] if void is not None else [])
    names = [stats.class_names[i] + (f"\n({VOID_TAG})" if i == void else "") for i in order]
    x = np.arange(len(order), dtype=float)
    if void is not None:
        x[-1] += 0.8  # a gap before void
    width = 0.8 / max(len(stats.splits), 1)
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(names) + 2), 4.5))
    for k, (split, s) in enumerate(stats.splits.items()):
        pixels = s.pixels[order].astype(float)
        shown = np.where(pixels > 0, pixels, np.nan)  # no stub bar for 0 on a log axis
        ax.bar(x + k * width, shown, width, label=f"{split} ({s.images} images)")
    ax.set_yscale("log")
    centre = x + width * (len(stats.splits) - 1) / 2
    for pos, i in zip(centre, order):
        if all(s.pixels[i] == 0 for s in stats.splits.values()):
            ax.text(
                pos, 0.02, "0", transform=ax.get_xaxis_transform(), ha="center", fontsize=8, color="#c44e52"
            )
    if void is not None:
        ax.axvline(x[-1] - 0.6, color="#999999", lw=1, ls="--")
    ax.set_xticks(centre, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("pixels (log scale; red 0: no pixels in any split)")
    title = f"Class pixel counts — {printable(Path(stats.info.root).name)} ({stats.info.layout} layout)"
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
