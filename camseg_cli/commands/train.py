"""`camseg train`: train one DeepLabV3 run (or a sweep, one run per augmentation preset)."""

from __future__ import annotations

import dataclasses
import logging
import math
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
from camseg_cli.core.cpus import parse_threads, use_threads
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.sizes import parse_size
from camseg_cli.options import (
    CACHE,
    DATA,
    DEVICE,
    LAYOUT,
    OUT,
    QUIET,
    SKIP_BAD,
    SPLIT_BY,
    TEST_SEQUENCES,
    THREADS,
    VAL_SEQUENCES,
    WORKERS,
)
from camseg_cli.progress import TrainProgress

if TYPE_CHECKING:  # torch and albumentations load when the command runs, not with `camseg --help`
    from camseg_cli.core.train.config import TrainConfig
    from camseg_cli.core.train.outcome import TrainResult

log = logging.getLogger("camseg")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def _explicit(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name) if name in ctx.params else None
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


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
    data: str = DATA,
    layout: str = LAYOUT,
    split_by: str = SPLIT_BY,
    val_sequences: str = VAL_SEQUENCES,
    test_sequences: str = TEST_SEQUENCES,
    conditions: str = typer.Option(
        None, "--condition", help="ACDC: train and validate on these conditions only, e.g. night or fog,rain."
    ),
    skip_bad: bool = SKIP_BAD,
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
    workers: int = WORKERS,
    cache: str = CACHE,
    threads: str = THREADS,
    device: str = DEVICE,
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
    out: Path = OUT,
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
    quiet: bool = QUIET,
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
    parse_threads(threads)  # a bad --threads answers now; the count is applied once the workers are known
    # Light imports only until every option is checked: a typo answers before torch loads.
    from camseg_cli.core.train.config import TrainConfig
    from camseg_cli.core.train.config_file import merge_file, read_config_file
    from camseg_cli.core.train.launch import given_config, is_main_process, train_study

    explicit = frozenset(k for k in ctx.params if _explicit(ctx, k))
    fields = {k: v for k, v in ctx.params.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
    fields["size"] = hw
    if config is not None:  # the file's settings, under the flags given on the command line
        fields, sweep, seeds = merge_file(read_config_file(config), fields, explicit, sweep, seeds)
    # before torch loads (OpenMP reads its thread count and wait policy once); the count goes to config.json
    fields["threads"] = use_threads(fields["threads"])
    given = given_config(fields, resume)

    from camseg_cli.core.model.device import resolve_device
    from camseg_cli.core.train.outcome import TrainingInterrupted
    from camseg_cli.core.train.sweep import parse_shard, study_configs, take_shard

    study = study_configs(given, sweep, parse_seeds(seeds))
    many = len(study) > 1
    which = parse_shard(shard)
    configs = take_shard(study, which)
    if preview:
        return _preview(configs or study, many)
    if not resume or "device" in explicit:
        resolve_device(given.device)  # a missing GPU fails here, before any folder is made
    main = is_main_process()
    if which and main:
        names = ", ".join(c.run_name for c in configs) or "none"
        console.print(
            f"shard {which[0]}/{which[1]}: {len(configs)} of {len(study)} runs ({names})", highlight=False
        )
    reporter = TrainProgress(quiet=quiet or not main)
    with reporter.session():
        try:
            done = train_study(configs, resume, force, _note, reporter, explicit, many)
        except TrainingInterrupted as e:
            hint = _sweep_hint() if many else e.hint
            # soft_wrap: one unbroken line, so the command can be copied whole
            msg = f"[yellow]{escape(str(e))}[/] — resume with: {escape(hint)}"
            err_console.print(msg, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if main and done.results:
        console.print(_summary(done.results))
    if done.locked:
        raise typer.Exit(1)


NOTE_STYLE = {"skip": "dim", "plan": "yellow"}


def _note(kind: str, text: str) -> None:
    """What the study loop tells the user, on stderr: a locked run, a skipped one, what happens to one."""
    if kind == "locked":
        err_console.print(f"[yellow]skipped:[/] {escape(text)}", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"[{NOTE_STYLE[kind]}]{escape(text)}[/]", highlight=False, soft_wrap=True)
