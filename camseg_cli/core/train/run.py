"""fit(): one training run from a TrainConfig — set-up, epoch loop, best/last checkpoints, resume, Ctrl-C."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from camseg_cli.core.data.augment.presets import aug_name
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.samples import DatasetInfo
from camseg_cli.core.data.sources.validate import check_files, drop_bad
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import pyplot, remove_stale_temps, write_json
from camseg_cli.core.model.checkpoint import (
    NORMALIZATION,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from camseg_cli.core.train import distributed, runstate
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.engine import EpochState, NonFiniteLoss, TrainEvents, ValResult
from camseg_cli.core.train.loaders import Loaders, make_loaders
from camseg_cli.core.train.outcome import TrainingInterrupted, TrainResult
from camseg_cli.core.train.precise_bn import recompute_bn
from camseg_cli.core.train.resume import RunProgress, read_last
from camseg_cli.core.train.setup import configure_backends, make_trainer
from camseg_cli.core.train.tblog import LoggedEvents, TensorBoardLog

log = logging.getLogger("camseg")

__all__ = ["TrainResult", "TrainingInterrupted", "fit"]  # the outcomes live in outcome.py


def fit(
    config: TrainConfig, events: TrainEvents | None = None, resume: bool = False, force: bool = False
) -> TrainResult:
    """Train one run: out/<run>.pt (best); out/runs/<run>/ metrics.csv, config.json, last.pt, curves.png.

    With resume=True, `config` is the run's saved one (from resume_config) and last.pt restores its state;
    force=True (--force) replaces an earlier run without the reminder that it could be resumed.
    """
    d = distributed.setup(config.device)
    try:
        if not d.is_main:
            events = TrainEvents()  # only rank 0 reports
            log.setLevel(logging.ERROR)
        return _Run(config, d, events or TrainEvents(), resume, force).run()
    finally:
        distributed.teardown(d)


class _Run:
    def __init__(
        self, config: TrainConfig, d: distributed.Dist, events: TrainEvents, resume: bool, force: bool = False
    ):
        self.d, self.events = d, events
        self.last = read_last(config.last_path) if resume else None
        self.config = config
        self.info: DatasetInfo = open_dataset(
            config.data, config.layout, config.split_by, config.val_sequences, config.test_sequences,
            config.conditions,
        )  # fmt: skip
        if config.skip_bad:
            self.info = drop_bad(self.info, ("train", "val"))
        else:
            check_files([r for s in ("train", "val") for r in self.info.splits.get(s, [])])
        self.progress = RunProgress()
        self._hinted = False  # the data-starvation hint is given once per run
        if self.last is not None:
            self._check_same_classes()
            self.progress = RunProgress.from_dict(self.last["resume"]["progress"])
        elif config.last_path.exists() and d.is_main and not force:
            log.warning(
                "%s exists; starting run %s afresh (use --resume to continue it)",
                config.last_path,
                config.run_name,
            )
        configure_backends(d.device, config.deterministic)
        self.loaders: Loaders = make_loaders(self.config, self.info, d)
        self.tb = self._tensorboard()
        self.trainer = make_trainer(config, d, self.info, self.loaders.batches, self.events, self.last)
        if self.last is not None:
            self._restore(self.last)

    # ------------------------------------------------------------------------------------ set-up

    def _tensorboard(self) -> TensorBoardLog | None:
        """--log tensorboard: rank 0 writes OUT/runs/<run>/tb/, resuming at the step the run reached."""
        if self.config.log != "tensorboard" or not self.d.is_main:
            return None
        p, batches = self.progress, self.loaders.batches
        tb = TensorBoardLog(
            self.config.run_dir, batches, len(p.history) * batches + p.epoch_state.batches_done
        )
        self.events = LoggedEvents(self.events, tb)
        return tb

    def _check_same_classes(self) -> None:
        if self.last["classes"] != self.info.classes.to_dict():
            raise CamsegError(
                f"{self.config.data}: its classes differ from those run {self.config.run_name} trained on"
            )

    def _restore(self, last: dict[str, Any]) -> None:
        state = last["resume"]
        self.trainer.optimizer.load_state_dict(state["optimizer"])
        # LambdaLR saves its lambda's fields (total steps, warm-up) and loading puts them back; keep
        # this run's, so that `--resume --epochs N` rebuilds the schedule for N epochs.
        sched = self.trainer.scheduler
        fresh = [dict(vars(f)) for f in sched.lr_lambdas]
        sched.load_state_dict(state["scheduler"])
        for f, fields in zip(sched.lr_lambdas, fresh):
            vars(f).update(fields)
        if state.get("scaler"):
            self.trainer.scaler.load_state_dict(state["scaler"])
        runstate.set_rng_state(state["rng"])

    # ------------------------------------------------------------------------------------ the loop

    def run(self) -> TrainResult:
        c, p = self.config, self.progress
        if self.d.is_main:
            # a run killed mid-write (SIGKILL, power loss) leaves its temp files; the real ones are whole
            remove_stale_temps(c.run_dir)
            remove_stale_temps(c.out_dir, f"{c.best_path.name}.")
            write_json(c.run_dir / "config.json", c.to_dict())
            if c.aug_pipeline:  # the run's own pipeline, A.save's format: `--aug` takes it back
                write_json(c.run_dir / "aug.json", json.loads(c.aug_pipeline))
        start = len(p.history)
        if self.d.is_main:
            pyplot()  # imported now, not at the end of epoch 1 where a Ctrl-C could break the import
        self.events.run_started(c.run_name, c.epochs, start, self.loaders.batches)
        try:
            for epoch in range(start, c.epochs):
                if p.stopped_early:
                    break
                self._epoch(epoch)
            self._finish()
            if not c.keep_last and self.d.is_main:  # --no-keep-last: the resume state goes once finished
                c.last_path.unlink(missing_ok=True)
            if self.tb is not None:
                self.tb.hparams(c.to_dict(), p.best_miou)
        except KeyboardInterrupt:
            self._save_last()
            raise TrainingInterrupted(c, len(p.history), p.epoch_state.batches_done) from None
        except NonFiniteLoss as e:
            kept = (
                f"the last good state is {c.last_path} (epoch {len(p.history)}) and the best checkpoint "
                f"{c.best_path}"
                if p.history
                else "no epoch finished, so this run saved nothing"
            )
            raise CamsegError(
                f"training stopped: {e} — {kept}; lower --lr (now {c.lr:g}) and train again"
            ) from None
        finally:
            if self.tb is not None:
                self.tb.close()
        return TrainResult(
            c.run_name,
            c.best_path,
            c.run_dir,
            len(p.history),
            p.best_miou,
            p.best_epoch,
            p.stopped_early,
            p.history,
        )

    def _epoch(self, epoch: int) -> None:
        p, c, loaders = self.progress, self.config, self.loaders
        if p.epoch_state.batches_done == 0:
            runstate.seed_everything(
                c.seed * 1000 + epoch * 10 + self.d.rank
            )  # dropout draws per epoch and rank
        loaders.skip_to(epoch, p.epoch_state.batches_done)
        if self.d.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.d.device)  # peak_mem_gib is this epoch's
        self.events.epoch_started(epoch, loaders.batches, p.epoch_state.batches_done)
        if p.epoch_state.batches_done < loaders.batches:
            self.trainer.train_epoch(loaders.train, epoch, loaders.batches, p.epoch_state)
        started = time.perf_counter()
        # eval-mode statistics for the weights as they are now, before validation picks the best
        bn_seconds = recompute_bn(self.trainer, loaders, epoch, c.precise_bn) if c.precise_bn else 0.0
        val = self.trainer.validate(
            loaders.val, self.info.classes.num_classes, self.info.classes.ignore_index
        )
        row = self._row(epoch, val, time.perf_counter() - started) | {"precise_bn_seconds": bn_seconds}
        p.history.append(row)
        improved = math.isfinite(val.scores.miou) and val.scores.miou > p.best_miou
        if improved:
            p.best_miou, p.best_epoch, p.bad_epochs = val.scores.miou, epoch + 1, 0
        else:
            p.bad_epochs += 1
        p.stopped_early = bool(c.patience) and p.bad_epochs >= c.patience
        p.epoch_state = EpochState()
        if self.d.is_main:
            if improved:
                save_checkpoint(c.best_path, self._checkpoint(epoch + 1, metrics=val.metrics(epoch + 1)))
            self._save_last()
            runstate.write_metrics(c.run_dir, p.history)
            title = f"{c.run_name} — best val mIoU {p.best_miou:.3f}"
            runstate.plot_curves(c.run_dir, p.history, title, c.aux_loss, aug_name(c.aug) != "none")
        if self.tb is not None:
            self.tb.epoch(row, val.scores.iou.tolist(), self.info.classes)
            self.tb.samples(epoch, self.trainer.module, self.info.samples("val"), self.info.classes, c.size,
                            NORMALIZATION, self.d.device)  # fmt: skip
        self.events.epoch_ended(row, p.best_miou, p.best_epoch)
        self._starved_hint(row)

    def _peak_mem_gib(self) -> float:
        """Peak GPU memory of the epoch's training and validation, GiB (as MMSeg logs `memory`)."""
        if self.d.device.type != "cuda":
            return float("nan")
        return torch.cuda.max_memory_allocated(self.d.device) / 2**30

    def _starved_hint(self, row: dict[str, Any]) -> None:
        """Say once when a GPU waits on data for over 10% of an epoch (the first counts only if it is
        the last: it includes starting the workers) and what would feed it faster."""
        c = self.config
        if self._hinted or self.d.device.type != "cuda" or not row["data_wait"] > 0.10:
            return
        if row["epoch"] == 1 and c.epochs > 1:
            return
        self._hinted = True
        faster = [f"more --workers (now {c.workers})"] + (["--cache ram"] if c.cache == "none" else [])
        self.events.note(
            f"the GPU waited for data {row['data_wait']:.0%} of epoch {row['epoch']}: "
            f"{' or '.join(faster)} would feed it faster"
        )

    def _row(self, epoch: int, val: ValResult, val_seconds: float) -> dict[str, Any]:
        s = self.progress.epoch_state
        return {
            "epoch": epoch + 1,
            "train_loss": s.mean_loss,
            "val_loss": val.loss,
            "val_miou": val.scores.miou,
            "val_pixel_acc": val.scores.pixel_acc,
            "lr": self.trainer.optimizer.param_groups[0]["lr"],
            "images_per_s": s.images / s.seconds if s.seconds > 0 else float("nan"),
            "data_wait": s.data_wait,
            "peak_mem_gib": self._peak_mem_gib(),
            "seconds": s.seconds + val_seconds,
        }

    # ------------------------------------------------------------------------------------ outputs

    def _checkpoint(self, epoch: int, **fields: Any) -> dict[str, Any]:
        c = self.config
        return make_checkpoint(
            self.trainer.module,
            arch=c.arch,
            classes=self.info.classes,
            image_size=tuple(c.size),
            aug=c.aug_display,
            epoch=epoch,  # the epoch these weights come from
            epochs=len(self.progress.history),  # epochs trained so far
            history=list(self.progress.history),
            config=c.to_dict(),
            seed=c.seed,
            run=c.run_name,
            data=str(Path(c.data).resolve()),
            layout=self.info.layout,
            train_seconds=sum(r["seconds"] for r in self.progress.history),
            **fields,
        )

    def _save_last(self) -> None:
        if not self.d.is_main:
            return
        t = self.trainer
        resume = {
            "optimizer": t.optimizer.state_dict(),
            "scheduler": t.scheduler.state_dict(),
            "scaler": t.scaler.state_dict(),
            "rng": runstate.rng_state(),
            "progress": self.progress.to_dict(),
        }
        save_checkpoint(self.config.last_path, self._checkpoint(len(self.progress.history), resume=resume))

    def _finish(self) -> None:
        """Give the best checkpoint the whole run's history (it was saved mid-run)."""
        c = self.config
        if self.d.is_main and c.best_path.is_file():
            best = load_checkpoint(c.best_path)
            best.pop("classes_map", None)
            best.pop("path", None)
            best["history"] = list(self.progress.history)
            best["epochs"] = len(self.progress.history)
            best["train_seconds"] = sum(r["seconds"] for r in self.progress.history)
            best["stopped_early"] = self.progress.stopped_early
            save_checkpoint(c.best_path, best)
        distributed.barrier(self.d)
