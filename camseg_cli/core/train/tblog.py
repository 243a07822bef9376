"""TensorBoard event files for a run (`camseg train --log tensorboard`): OUT/runs/<run>/tb/.

Every scalar is logged at the global optimizer step (epoch x steps per epoch + step), as MMSegmentation
logs its validation at the iteration it ran, so training and validation curves share one x axis. A
resumed run opens the same folder with purge_step just after the step it resumes from: TensorBoard then
drops whatever an interrupted process logged after its last saved state, and no step appears twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.data.loading.tensors import resize_image
from camseg_cli.core.data.sources.samples import SampleRef, evenly_spaced, read_sample
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.inference import (
    ModelInput,
    inference_channels_last,
    inference_model,
    predict_batch,
)
from camseg_cli.core.model.predict import colorize
from camseg_cli.core.train.engine import TrainEvents

SAMPLES = 4  # validation images shown every epoch, the same ones each time
EPOCH_TAGS = {  # metrics.csv column -> TensorBoard tag
    "val_loss": "val/loss",
    "val_miou": "val/mIoU",
    "val_pixel_acc": "val/pixel_acc",
    "train_loss": "train/epoch_loss",
    "images_per_s": "speed/images_per_s",
    "data_wait": "speed/data_wait",
    "peak_mem_gib": "memory/peak_gib",
}


def _writer(log_dir: Path, purge_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise CamsegError(
            "--log tensorboard needs the tensorboard package — pip install 'camseg[tensorboard]'"
        ) from None
    return SummaryWriter(str(log_dir), purge_step=purge_step)


class TensorBoardLog:
    """Scalars per step and per epoch, per-class IoU, a fixed panel of validation images, hparams."""

    def __init__(self, run_dir: Path, steps_per_epoch: int, resume_step: int = 0):
        self.steps_per_epoch = steps_per_epoch
        self.dir = Path(run_dir) / "tb"
        # purge what a killed process logged after its saved state: steps after resume_step (that
        # step's own events, the last of a finished epoch, were written before the state was saved)
        self.writer = _writer(self.dir, resume_step + 1 if resume_step else None)
        self._panel: tuple[list[str], list[np.ndarray], list[np.ndarray]] | None = None

    def global_step(self, epoch: int, batch: int) -> int:
        """Steps done after `batch` steps of 0-based `epoch`."""
        return epoch * self.steps_per_epoch + batch

    def step(self, epoch: int, batch: int, loss: float, lr: float) -> None:
        step = self.global_step(epoch, batch)
        self.writer.add_scalar("train/loss", loss, step)
        self.writer.add_scalar("train/lr", lr, step)

    def epoch(self, row: dict[str, Any], iou: Sequence[float], classes: ClassMap) -> None:
        """One epoch's validation scalars (as in metrics.csv) and per-class IoU, at its last step."""
        step = self.global_step(row["epoch"], 0)
        for column, tag in EPOCH_TAGS.items():
            value = row.get(column)
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, step)
        for i, name in enumerate(classes.names):
            if i != classes.void and math.isfinite(iou[i]):
                self.writer.add_scalar(f"val_iou/{name}", iou[i], step)
        self.writer.flush()

    def samples(self, epoch: int, model: torch.nn.Module, refs: Sequence[SampleRef], classes: ClassMap,
                size: Sequence[int], normalization: dict, device: torch.device) -> None:  # fmt: skip
        """image | ground truth | prediction for the same validation images every epoch."""
        if self._panel is None:
            names, images, truths = [], [], []
            h, w = int(size[0]), int(size[1])
            for ref in evenly_spaced(refs, SAMPLES):
                image, mask = read_sample(ref, classes)
                names.append(ref.name)
                images.append(resize_image(image, size).numpy())
                truths.append(cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST))
            self._panel = (names, images, truths)
        names, images, truths = self._panel
        net = inference_model(model, device)  # as validation and camseg evaluate run it
        to_input = ModelInput(normalization, device, inference_channels_last(device))
        batch = to_input(torch.from_numpy(np.stack(images)))
        preds = predict_batch(net, batch, [tuple(t.shape) for t in truths])
        step = self.global_step(epoch + 1, 0)
        for name, image, truth, pred in zip(names, images, truths, preds):
            mask = pred.to(torch.uint8).cpu().numpy()
            row = np.concatenate([image, colorize(truth, classes), colorize(mask, classes)], axis=1)
            self.writer.add_image(f"val_samples/{name}", row, step, dataformats="HWC")

    def hparams(self, config: dict[str, Any], best_miou: float) -> None:
        """The run's settings with its best validation mIoU, for TensorBoard's HParams tab."""
        plain = {k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in config.items()}
        metric = best_miou if math.isfinite(best_miou) else float("nan")
        self.writer.add_hparams(plain, {"hparam/best_val_mIoU": metric}, run_name="hparams")

    def close(self) -> None:
        self.writer.close()


class LoggedEvents(TrainEvents):
    """The CLI's events, plus each optimizer step's loss and learning rate into TensorBoard."""

    def __init__(self, inner: TrainEvents, tb: TensorBoardLog):
        self.inner, self.tb = inner, tb

    def run_started(self, run: str, epochs: int, start_epoch: int, batches: int) -> None:
        self.inner.run_started(run, epochs, start_epoch, batches)

    def epoch_started(self, epoch: int, batches: int, done: int) -> None:
        self.inner.epoch_started(epoch, batches, done)

    def step(self, epoch: int, batch: int, batches: int, loss: float, images_per_s: float, lr: float) -> None:
        self.tb.step(epoch, batch, loss, lr)
        self.inner.step(epoch, batch, batches, loss, images_per_s, lr)

    def track(self, items: Iterable, description: str, total: int | None = None) -> Iterable:
        return self.inner.track(items, description, total)

    def epoch_ended(self, row: dict[str, Any], best_miou: float, best_epoch: int) -> None:
        self.inner.epoch_ended(row, best_miou, best_epoch)

    def note(self, text: str) -> None:
        self.inner.note(text)
