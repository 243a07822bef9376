"""What `camseg evaluate` leaves on disk for one pass: the JSON summary, the per-class CSV, the per-image
cache (.npz) and the row-normalised confusion heatmap, under OUT/eval/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.scoring.result_cache import report_stem, save_cache
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.files import pyplot, save_figure, write_csv, write_json


def plot_confusion(result: EvalResult) -> Any:
    """Row-normalised confusion matrix (each ground-truth class sums to 1) of the classes present."""
    plt = pyplot()

    mat = result.mat.astype(np.float64)
    void = result.classes.void
    keep = [i for i in range(len(mat)) if i != void and (mat[i].sum() > 0 or mat[:, i].sum() > 0)]
    if void is not None and mat[:, void].sum() > 0:
        keep.append(void)  # predicted void on labelled pixels is an error worth seeing: one column
    rows = [i for i in keep if i != void]
    sub = mat[np.ix_(rows, keep)]
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = sub / sub.sum(1, keepdims=True)
    names = result.classes.names
    size = max(4.0, 0.32 * len(keep) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    if not rows:  # every pixel void: nothing to normalise; say so instead of an empty, warning heatmap
        ax.axis("off")
        ax.text(0.5, 0.5, "no labelled pixels in this split", ha="center", va="center")
        ax.set_title(f"{result.run} on {result.split}", fontsize=9)
        return fig
    im = ax.imshow(np.ma.masked_invalid(norm), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(len(keep)), [names[i] for i in keep], rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), [names[i] for i in rows], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    if len(keep) <= 16:
        for (r, c), v in np.ndenumerate(norm):
            if v >= 0.005:
                ax.text(
                    c,
                    r,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > 0.5 else "black",
                )
    hidden = len(names) - len(keep) - (void is not None and void not in keep)
    note = f"; {hidden} absent classes not shown" if hidden else ""
    s = result.scores
    ax.set_title(
        f"{result.run} on {result.split}: mIoU {s.miou:.3f}, pixel acc {s.pixel_acc:.3f}{note}", fontsize=9
    )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the ground-truth row")
    return fig


def write_reports(
    result: EvalResult, out: Path | str = "out", extra: dict[str, Any] | None = None
) -> list[Path]:
    """JSON summary (with `extra`'s keys, e.g. slices), per-class CSV, per-image cache (.npz) and heatmap
    PNG under out/eval/."""
    import pandas as pd

    stem = report_stem(out, result.run, result.split, result.stamp.get("corrupt"))
    frame = pd.DataFrame(result.per_class())
    return [
        write_json(stem.with_suffix(".json"), result.to_json() | (extra or {})),
        write_csv(stem.with_suffix(".csv"), frame),
        save_cache(result, stem.with_suffix(".npz")),
        save_figure(stem.parent / f"{stem.name}-confusion.png", plot_confusion(result)),
    ]
