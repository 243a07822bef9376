"""What a run leaves on disk: metrics.csv, curves.png, config.json, and the RNG part of resume state."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from camseg_cli.core.files import printable, pyplot, save_figure, write_csv

COLUMNS = (
    "epoch", "train_loss", "val_loss", "val_miou", "val_pixel_acc", "lr",
    "images_per_s", "data_wait", "peak_mem_gib", "seconds",
)  # fmt: skip
RESUME_FORMAT = "camseg-resume"


def rng_state() -> dict[str, Any]:
    """Every RNG this process draws from, as tensors and lists (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> Path:
    frame = pd.DataFrame(history, columns=list(COLUMNS))
    return write_csv(run_dir / "metrics.csv", frame)


def plot_curves(
    run_dir: Path, history: list[dict[str, Any]], title: str, aux_loss: bool = False, augmented: bool = True
) -> Path:
    """Loss (train and val) and validation mIoU / pixel accuracy per epoch, side by side."""
    return save_figure(run_dir / "curves.png", curves_figure(history, title, aux_loss, augmented))


def curves_figure(
    history: list[dict[str, Any]], title: str, aux_loss: bool = False, augmented: bool = True
) -> Any:
    """The two losses are not alike, so their legend says what each one is: training's is taken on
    images at the training size, augmented unless --aug none (plus 0.5 x the aux head's with
    --aux-loss), validation's on the main head's logits resized to each label's own size."""
    plt = pyplot()

    frame = pd.DataFrame(history, columns=list(COLUMNS))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    head = "main + 0.5 x aux head, " if aux_loss else ""
    train = f"train: {head}{'augmented' if augmented else 'no augmentation'}, training size"
    left.plot(frame.epoch, frame.train_loss, marker="o", label=train)
    left.plot(frame.epoch, frame.val_loss, marker="o", label="validation: main head, label size")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.plot(frame.epoch, frame.val_miou, marker="o", label="val mIoU")
    right.plot(frame.epoch, frame.val_pixel_acc, marker="o", label="val pixel accuracy")
    if len(frame):
        best = frame.val_miou.idxmax() if frame.val_miou.notna().any() else None
        if best is not None:
            right.scatter(
                [frame.epoch[best]], [frame.val_miou[best]], s=80, facecolors="none", edgecolors="red"
            )
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(printable(title))
    fig.tight_layout()
    return fig
