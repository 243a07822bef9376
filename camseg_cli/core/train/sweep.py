"""A study's runs: every aug x every seed, everything else equal; one shard of them; what to do with each.

The same seed in two arms means the same initial weights and the same data order, so the runs of a
study pair by seed (core/evaluation/stats/study.py). Run names carry the seed whenever a study has more
than one: `<arch>-<aug>-s<seed>`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from camseg_cli.core.checks import parse_seeds  # noqa: F401 (callers import it from here too)
from camseg_cli.core.choices import RUNTIME_FIELDS
from camseg_cli.core.data.augment.names import parse_aug, split_sweep
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.checkpoint import load_checkpoint
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.resume import check_extension

# Settings that do not change what a run computes: two checkpoints differing only in these are one run.
NOT_THE_CONFIGURATION = (*RUNTIME_FIELDS, "run")


def study_configs(given: TrainConfig, sweep: bool = False, seeds: Sequence[int] = ()) -> list[TrainConfig]:
    """One config per (aug, seed): every --aug item with --sweep (else the one combination), every seed.

    Names: a single run keeps --run (default <arch>-<aug>); a sweep is <run or arch>-<aug>; with more
    than one seed every name ends in -s<seed>. Order: aug-major, then seed.
    """
    augs = split_sweep(given.aug) if sweep else [given.aug]
    if not sweep:
        parse_aug(given.aug)  # a pipeline file combined with presets is refused before anything trains
    seeds = tuple(seeds) or (given.seed,)
    prefix = given.run or given.arch
    out = []
    for aug in augs:
        for seed in seeds:
            c = dataclasses.replace(given, aug=aug, seed=seed)
            name = f"{prefix}-{c.aug_display}" if sweep else c.run_name
            if len(seeds) > 1:
                name = f"{name}-s{seed}"
            out.append(dataclasses.replace(c, run=name) if (sweep or len(seeds) > 1) else c)
    names = [c.run_name for c in out]
    if len(set(names)) != len(names):
        raise CamsegError(f"runs of this study would share a name ({', '.join(names)}) — drop --run")
    return out


def parse_shard(text: str | None, env: Mapping[str, str] = os.environ) -> tuple[int, int] | None:
    """--shard K/N (K from 1 to N); without it, a Slurm job array's task (SLURM_ARRAY_TASK_ID minus
    SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT); None: the whole study."""
    if text:
        k, _, n = text.partition("/")
        try:
            shard = (int(k), int(n))
        except ValueError:
            raise CamsegError(f"--shard {text!r}: K/N, e.g. 2/4 for the second of four shards") from None
        if not 1 <= shard[0] <= shard[1]:
            raise CamsegError(f"--shard {text!r}: K must be from 1 to N")
        return shard
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        task = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        count = int(env["SLURM_ARRAY_TASK_COUNT"])
        return parse_shard(f"{task + 1}/{count}")
    return None


def take_shard(configs: Sequence[TrainConfig], shard: tuple[int, int] | None) -> list[TrainConfig]:
    """Shard K of N: runs K-1, K-1+N, K-1+2N, ... of the study, so N shards cover it exactly once."""
    if shard is None:
        return list(configs)
    k, n = shard
    return [c for i, c in enumerate(configs) if i % n == k - 1]


def configuration(config: dict[str, Any]) -> dict[str, Any]:
    """What a run computes: its config without the runtime fields and the run name."""
    return {k: v for k, v in config.items() if k not in NOT_THE_CONFIGURATION}


@dataclass(frozen=True)
class Plan:
    """What to do with one run of a study: train it afresh, resume it, or skip it (and why)."""

    config: TrainConfig
    action: str  # "train", "resume" or "skip"
    why: str = ""


def _finished(last: dict[str, Any], saved: int, epochs: int | None) -> bool:
    """Done with its saved epoch count (or `epochs`, an explicit --epochs that may extend it)."""
    progress = last.get("resume", {}).get("progress", {})
    target = saved if epochs is None else epochs
    return int(last.get("epoch", 0)) >= target or (epochs is None and bool(progress.get("stopped_early")))


def _differences(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    now, before = configuration(config.to_dict()), configuration(saved)
    return [f"{k} {before.get(k)!r} -> {now[k]!r}" for k in now if before.get(k, now[k]) != now[k]]


def _dropped_state(config: TrainConfig, epochs: int | None) -> bool:
    """Whether the run finished with --no-keep-last (so has no last.pt); more epochs cannot continue it."""
    saved = load_checkpoint(config.best_path).get("config") or {}
    if saved.get("keep_last", True):
        return False
    if epochs is None or epochs <= int(saved.get("epochs", 0)):
        return True
    raise CamsegError(
        f"run {config.run_name} finished with --no-keep-last: its resume state (last.pt) was removed, so it "
        f"cannot be extended to {epochs} epochs — train a new run (--run NAME) with --epochs {epochs}"
    )


def plan_run(
    config: TrainConfig,
    resume: bool,
    start_missing: bool = True,
    force: bool = False,
    epochs: int | None = None,
) -> Plan:
    """Decide, before anything is written, what this run does.

    With resume: a finished run is skipped, an unfinished one continues, one not begun starts (with
    start_missing, as in a sweep; else resuming it fails, naming the missing resume state). Without:
    an existing checkpoint of this name from another seed or configuration is an error (never silently
    replaced; `force` replaces it, saying so); one of the same configuration is replaced, and the plan
    says so with its mIoU. `epochs`: an explicit --epochs, against which a resumed run counts as done.
    """
    if resume and config.last_path.is_file():
        last = load_checkpoint(config.last_path)
        saved = int((last.get("config") or {}).get("epochs", 0))
        if epochs is not None:
            check_extension(config.run_name, saved, epochs)
        if _finished(last, saved, epochs):
            return Plan(config, "skip", f"already finished ({last.get('epoch')} epochs), skipped")
        return Plan(config, "resume")
    if resume and config.best_path.is_file() and _dropped_state(config, epochs):
        return Plan(config, "skip", "already finished (trained with --no-keep-last), skipped")
    if resume and not start_missing:
        return Plan(config, "resume")  # fit says there is no resume state to continue from
    if not config.best_path.is_file():
        return Plan(config, "train")
    best = load_checkpoint(config.best_path)
    diff = _differences(best.get("config") or {}, config)
    if diff and not force:
        raise CamsegError(
            f"{config.best_path}: made with other settings ({'; '.join(diff[:3])}) — pass --run NAME for "
            "a new run, --resume to continue that one, or --force to replace it"
        )
    miou = (best.get("metrics") or {}).get("miou")  # the best epoch's validation scores
    shown = f"best val mIoU {miou:.4f}" if isinstance(miou, float) else "its best checkpoint"
    if resume and not diff:
        return Plan(config, "skip", f"already finished ({shown}), skipped")
    how = f"made with other settings: {'; '.join(diff[:3])}" if diff else "made with the same settings"
    return Plan(config, "train", f"replaces {config.best_path} ({shown}, {how})")
