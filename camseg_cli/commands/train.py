"""`camseg train`: train one DeepLabV3 run (or a sweep, one run per augmentation preset)."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from camseg_cli.app import command, console, err_console
from camseg_cli.core.checks import check_options, parse_seeds
from camseg_cli.core.choices import ARCHS, AUG_PRESETS, LOGS, OPTIMIZERS, SCHEDULES, WEIGHTS
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.data.sources.layouts import READ_LAYOUTS, open_dataset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.device import default_train_workers
from camseg_cli.core.sizes import parse_size
from camseg_cli.core.suggest import check_data_folder, check_device, check_out, did_you_mean
from camseg_cli.options import CACHE, TEST_SEQUENCES, THREADS, VAL_SEQUENCES
from camseg_cli.progress import TrainProgress

if TYPE_CHECKING:  # torch and albumentations load when the command runs, not with `camseg --help`
    from camseg_cli.core.train.config import TrainConfig
    from camseg_cli.core.train.run import TrainResult

log = logging.getLogger("camseg")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def _is_main() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _explicit(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name) if name in ctx.params else None
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _resumed(ctx: typer.Context, given: TrainConfig) -> TrainConfig:
    """The run's saved settings, with the runtime flags given now (--workers, --device, ...)."""
    from camseg_cli.core.choices import RUNTIME_FIELDS
    from camseg_cli.core.train.config import TrainConfig
    from camseg_cli.core.train.resume import extend_run, resume_config

    overrides = {f: getattr(given, f) for f in RUNTIME_FIELDS if f != "out" and _explicit(ctx, f)}
    used = resume_config(given.out, given.run_name, **overrides)
    if _explicit(ctx, "epochs") and given.epochs != used.epochs:
        used = extend_run(used, given.epochs)
    for f in dataclasses.fields(TrainConfig):
        if f.name in (*RUNTIME_FIELDS, "run", "epochs") or not _explicit(ctx, f.name):
            continue
        if getattr(given, f.name) != getattr(used, f.name):
            log.warning(
                "--%s ignored: resuming %s with its saved %s=%s",
                f.name.replace("_", "-"),
                used.run_name,
                f.name,
                getattr(used, f.name),
            )
    return used


PATH_FLAGS = ("--data", "-d", "--out", "-o", "--config")


def _sweep_hint() -> str:
    """The same command line with --resume: finished runs are skipped, the interrupted one continues.
    Folder and file arguments are made absolute, so it runs from any folder."""
    args, after_flag = [], False
    for a in sys.argv[1:]:
        flag, eq, value = a.partition("=")
        if after_flag:
            a = str(Path(a).resolve())
        elif eq and flag in PATH_FLAGS:
            a = f"{flag}={Path(value).resolve()}"
        after_flag = a in PATH_FLAGS
        if a != "--resume":
            args.append(a)
    return shlex.join(["camseg", *args, "--resume"])


def _summary(results: list[TrainResult]) -> Table:
    table = Table(title="training runs")
    for col in ("run", "epochs", "best val mIoU", "at epoch", "checkpoint"):
        numeric = col in ("epochs", "best val mIoU", "at epoch")
        table.add_column(col, justify="right" if numeric else "left", overflow="fold")
    for r in results:
        miou = f"{r.best_miou:.4f}" if math.isfinite(r.best_miou) else "—"
        early = " (early stop)" if r.stopped_early else ""
        table.add_row(r.run, f"{r.epochs}{early}", miou, str(r.best_epoch), str(r.best_path))
    return table


def _preview(configs: list[TrainConfig], sweep: bool) -> None:
    from camseg_cli.core.data.augment.preview import write_preview

    c = configs[0]
    dest = Path(c.out) / "augment-preview.png" if sweep else c.run_dir / "augment-preview.png"
    info = open_dataset(c.data, c.layout, c.split_by, c.val_sequences, c.test_sequences, c.conditions)
    augs = [(x.aug_display, x.aug_pipeline) if x.aug_pipeline else x.aug for x in configs]
    path = write_preview(dest, info, augs, c.size, seed=c.seed)
    console.print(f"augmentation preview: {path}", highlight=False)


@command("train")
def train_cmd(
    ctx: typer.Context,
    data: str = typer.Option(
        "", "--data", "-d", help=f"Dataset folder (layouts: {', '.join(READ_LAYOUTS)})."
    ),
    layout: str = typer.Option(None, "--layout", help=f"Force a layout: {', '.join(READ_LAYOUTS)}."),
    split_by: str = typer.Option(
        "dataset", "--split-by", help="dataset: its own split; sequence: whole sequences, none in two splits."
    ),
    val_sequences: str = VAL_SEQUENCES,
    test_sequences: str = TEST_SEQUENCES,
    conditions: str = typer.Option(
        None, "--condition", help="ACDC: train and validate on these conditions only, e.g. night or fog,rain."
    ),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Leave out (and list) unreadable train/val samples instead of stopping."
    ),
    aug: str = typer.Option(
        "none",
        "--aug",
        help=f"Presets, combined with commas: {', '.join(AUG_PRESETS)}; or an albumentations pipeline file "
        "(A.save JSON/YAML, its own arm).",
    ),
    arch: str = typer.Option("resnet50", "--arch", help=f"{', '.join(ARCHS)}."),
    weights: str = typer.Option("coco", "--weights", help=f"{', '.join(WEIGHTS)} or a checkpoint path."),
    aux_loss: bool = typer.Option(False, "--aux-loss", help="Train the auxiliary FCN head too (loss x0.5)."),
    epochs: int = typer.Option(30, "--epochs", "-e"),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Images per step per process (at least 2)."),
    size: str = typer.Option("360x480", "--size", help="Training size HxW, e.g. 360x480 or 720x960."),
    lr: float = typer.Option(
        None, "--lr", help="Peak learning rate (default: 1e-3 with --weights none, 1e-4 when fine-tuning)."
    ),
    weight_decay: float = typer.Option(1e-4, "--weight-decay"),
    optimizer: str = typer.Option("adamw", "--optimizer", help=f"{', '.join(OPTIMIZERS)}."),
    schedule: str = typer.Option("poly", "--schedule", help=f"{', '.join(SCHEDULES)}, after linear warm-up."),
    warmup_epochs: float = typer.Option(1.0, "--warmup-epochs"),
    class_weights: str = typer.Option("none", "--class-weights", help="none, median or enet."),
    accumulate: int = typer.Option(1, "--accumulate", help="Micro-batches per optimizer step."),
    patience: int = typer.Option(
        0, "--patience", help="Stop after N epochs without a better val mIoU (0: never)."
    ),
    seed: int = typer.Option(0, "--seed"),
    seeds: str = typer.Option(
        "",
        "--seeds",
        help="One run per seed, e.g. 0,1,2 (names end in -s<seed>); with --sweep, every aug x seed.",
    ),
    shard: str = typer.Option(
        None, "--shard", help="Train shard K/N of the study's runs (default: from a Slurm job array)."
    ),
    deterministic: bool = typer.Option(False, "--deterministic", help="Repeatable kernels (slower on CUDA)."),
    workers: int = typer.Option(
        None, "--workers", help="Image-loading processes (0: in the main process; default: CPUs, at most 4)."
    ),
    cache: str = CACHE,
    threads: str = THREADS,
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="Mixed precision on CUDA (bf16, else fp16)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the model (CUDA)."),
    channels_last: bool = typer.Option(True, "--channels-last/--no-channels-last", help="NHWC on CUDA."),
    sync_bn: bool = typer.Option(False, "--sync-bn", help="SyncBatchNorm across GPUs under torchrun."),
    precise_bn: str = typer.Option(
        "auto",
        "--precise-bn",
        help="Recompute BatchNorm statistics over N training batches before each validation (0: off; "
        "auto: 16 for --weights none or at most 10 epochs, else off).",
    ),
    out: str = typer.Option("out", "--out", "-o", help="Output folder."),
    run: str = typer.Option("", "--run", help="Run name (default <arch>-<aug>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from out/runs/<run>/last.pt."),
    keep_last: bool = typer.Option(
        True,
        "--keep-last/--no-keep-last",
        help="Keep OUT/runs/<run>/last.pt (resume state, 3x the checkpoint) when the run finishes; without "
        "it a finished run cannot be extended with --resume --epochs N.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace OUT/RUN.pt even when it was made with other settings or seed."
    ),
    sweep: bool = typer.Option(False, "--sweep", help="One run per --aug item instead of combining them."),
    preview: bool = typer.Option(False, "--preview", help="Write the augmentation preview PNG and stop."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Plain lines: epoch summaries only."),
    log: str = typer.Option(
        "none", "--log", help=f"Live curves besides metrics.csv: {', '.join(LOGS)} (OUT/runs/<run>/tb/)."
    ),
    config: Path = typer.Option(
        None, "--config", help="Settings from a TOML, YAML or JSON file (config.json's keys); flags win."
    ),
) -> None:
    """Train DeepLabV3 on a CamVid-like dataset; the best checkpoint by validation mIoU goes to OUT/RUN.pt."""
    parse_seeds(seeds)  # each seed's range too
    check_options(  # every number, before torch loads and before any work
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        accumulate=accumulate,
        patience=patience,
        workers=workers,
    )
    hw = parse_size(size)
    ctx.params["threads"] = use_threads(threads)  # before torch loads; the count goes to config.json
    # Light imports only until every option is checked: a typo answers before torch loads.
    from camseg_cli.core.train.config import TrainConfig, default_lr
    from camseg_cli.core.train.config_file import read_config_file

    fields = {k: v for k, v in ctx.params.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
    fields["size"] = hw
    if config is not None:  # the file's settings, under the flags given on the command line
        fields, sweep, seeds = _with_file(ctx, read_config_file(config), fields, sweep, seeds)
    _check_cheap(fields, resume)
    fields["lr"] = default_lr(fields["weights"]) if fields["lr"] is None else fields["lr"]
    fields["precise_bn"] = _batches(fields["precise_bn"])
    fields["workers"] = default_train_workers() if fields["workers"] is None else fields["workers"]
    given = TrainConfig(**fields)

    from camseg_cli.core.model.device import resolve_device
    from camseg_cli.core.train.lock import RunLocked
    from camseg_cli.core.train.run import TrainingInterrupted
    from camseg_cli.core.train.sweep import parse_shard, study_configs, take_shard

    study = study_configs(given, sweep, parse_seeds(seeds))
    many = len(study) > 1
    which = parse_shard(shard)
    configs = take_shard(study, which)
    if preview:
        return _preview(configs or study, many)
    if not resume or _explicit(ctx, "device"):
        resolve_device(given.device)  # a missing GPU fails here, before any folder is made
    if which and _is_main():
        names = ", ".join(c.run_name for c in configs) or "none"
        console.print(
            f"shard {which[0]}/{which[1]}: {len(configs)} of {len(study)} runs ({names})", highlight=False
        )
    reporter = TrainProgress(quiet=quiet or not _is_main())
    results, locked = [], []
    with reporter.session():
        for c in configs:
            try:
                result = _train_one(ctx, c, resume, reporter, start_missing=many, force=force)
            except RunLocked as e:
                if not many:
                    raise
                err_console.print(f"[yellow]skipped:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
                locked.append(c.run_name)
                continue
            except TrainingInterrupted as e:
                hint = _sweep_hint() if many else e.hint
                # soft_wrap: one unbroken line, so the command can be copied whole
                msg = f"[yellow]{escape(str(e))}[/] — resume with: {escape(hint)}"
                err_console.print(msg, highlight=False, soft_wrap=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            if result is not None:
                results.append(result)
    if _is_main() and results:
        console.print(_summary(results))
    if locked:
        raise typer.Exit(1)


def _check_cheap(fields: dict, resume: bool) -> None:
    """Names, folders and files, checked before torch loads; --data is stored absolute, so the run's
    config and its resume hint work from any folder."""
    check_device(fields["device"])
    check_out(fields["out"])
    weights = fields["weights"]
    if weights not in WEIGHTS and not Path(weights).is_file() and not resume:
        raise CamsegError(
            f"--weights {weights}: not {', '.join(WEIGHTS)}, nor an existing file"
            + did_you_mean(weights, WEIGHTS)
        )
    if not fields["data"]:
        if not resume:
            raise CamsegError(
                "pass --data DIR (a CamVid-like dataset folder, or make one with `camseg synth`)"
            )
        return
    check_data_folder("--data", fields["data"])
    fields["data"] = str(Path(fields["data"]).resolve())


def _batches(value: int | str) -> int | str:
    """--precise-bn: "auto" or a whole number of batches."""
    if isinstance(value, int) or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise CamsegError(f"--precise-bn {value!r}: a number of batches (0: off) or auto") from None


def _with_file(
    ctx: typer.Context, settings: dict, fields: dict, sweep: bool, seeds: str
) -> tuple[dict, bool, str]:
    """Fields, --sweep and --seeds with the config file's values wherever no flag was given."""
    merged = dict(fields)
    for key, value in settings.items():
        if key in merged and not _explicit(ctx, key):
            merged[key] = value
    if isinstance(merged["aug"], list):  # a study file's list of presets: one arm each
        merged["aug"] = ",".join(merged["aug"])
        sweep = sweep or settings.get("sweep", True)
    elif not _explicit(ctx, "sweep"):
        sweep = bool(settings.get("sweep", sweep))
    if "seeds" in settings and not _explicit(ctx, "seeds"):
        seeds = ",".join(map(str, settings["seeds"]))
    return merged, sweep, seeds


def _train_one(
    ctx: typer.Context,
    c: TrainConfig,
    resume: bool,
    reporter: TrainProgress,
    start_missing: bool,
    force: bool,
) -> TrainResult | None:
    """Plan the run under its lock (skip, resume or start), say what happens, and train it."""
    from contextlib import nullcontext

    from camseg_cli.core.train.lock import run_lock
    from camseg_cli.core.train.run import fit
    from camseg_cli.core.train.sweep import plan_run

    with run_lock(c.run_dir) if _is_main() else nullcontext():  # under torchrun rank 0 holds it
        plan = plan_run(c, resume, start_missing, force, c.epochs if _explicit(ctx, "epochs") else None)
        if plan.why and _is_main():
            style = "dim" if plan.action == "skip" else "yellow"
            err_console.print(
                f"[{style}]{escape(c.run_name)}: {escape(plan.why)}[/]", highlight=False, soft_wrap=True
            )
        if plan.action == "skip":
            return None
        config = _resumed(ctx, c) if plan.action == "resume" else c
        return fit(config, reporter, resume=plan.action == "resume", force=force)
