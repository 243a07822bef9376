"""`camseg download camvid`: fetch a public CamVid release, verify, extract, check it reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from camseg_cli.app import command, console, err_console, is_interactive
from camseg_cli.core.checks import check_options
from camseg_cli.core.data.sources.download import (
    DEFAULT_TIMEOUT,
    VARIANTS,
    Downloaded,
    OnBytes,
    download_camvid,
)
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.suggest import did_you_mean
from camseg_cli.options import QUIET
from camseg_cli.progress import Reporter

MiB = 1 << 20


@contextmanager
def byte_progress(label: str, quiet: bool) -> Iterator[OnBytes]:
    """A Rich byte bar on a terminal; a plain line every 10 s (and at the end) when piped or in CI."""
    if is_interactive(quiet):
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
        )
        tasks: list = []  # the bar appears with the first byte: a local archive shows none

        def live(done: int, total: int | None) -> None:
            if not tasks:
                tasks.append(progress.add_task(label, total=total))
            progress.update(tasks[0], completed=done, total=total)

        with progress:
            yield live
        return
    state = {"last": time.monotonic(), "done": 0, "total": None}

    def plain(done: int, total: int | None) -> None:
        state.update(done=done, total=total)
        if not quiet and time.monotonic() - state["last"] >= 10:
            state["last"] = time.monotonic()
            err_console.print(f"{label}: {_size(done, total)}", highlight=False)

    yield plain
    if not quiet and state["done"]:
        err_console.print(f"{label}: {_size(state['done'], state['total'])}", highlight=False)


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def _size(done: int, total: int | None) -> str:
    if not total:
        return human(done)
    return f"{human(done)} of {human(total)} ({100 * done / total:.0f}%)"


def _summary(d: Downloaded) -> None:
    def out(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    f, info = d.fetched, d.info
    if f is None:
        out(f"{info.root} is already in place (--force downloads it again)")
    else:
        if f.downloaded:
            resumed = f", resumed at {human(f.resumed_from)}" if f.resumed_from else ""
            speed = human(f.downloaded / max(f.seconds, 1e-9))
            out(f"downloaded {human(f.downloaded)} from {d.url} in {f.seconds:.2f} s ({speed}/s{resumed})")
        else:
            out(f"using {f.path}")
        if f.verified:
            out("SHA-256 verified")
        else:
            out("SHA-256 not verified: no digest is published for it (pass --sha256 HEX to check)")
    counts = ", ".join(f"{s} {len(r)}" for s, r in info.splits.items() if r) or "no images"
    void = f", void = {info.classes.void_name}" if info.classes.void is not None else ""
    out(f"dataset: {info.layout} layout, {info.classes.num_classes} classes{void}; images: {counts}")
    if info.layout != d.variant.layout:
        v = d.variant
        out(f"note: the {v.name} release reads as the {v.layout} layout; this copy reads as {info.layout}")
    if not info.splits.get("test"):
        out("no test split: evaluate on --split val, or add --split-by sequence")
    out(f"pass --data {info.root}")
    out(f"next: camseg stats --data {info.root} --leakage")
    out(f"      camseg train --data {info.root} --aug all")


@command("download")
def download_cmd(
    dataset: str = typer.Argument(..., help="Dataset to fetch: camvid."),
    variant: str = typer.Option(
        "fastai", "--variant", help="fastai (32 classes, 960x720) or segnet (11 classes, 480x360)."
    ),
    dest: Path = typer.Option(Path("data"), "--dest", help="Folder that receives camvid-VARIANT/."),
    url: str = typer.Option(None, "--url", help="Mirror URL, local archive or file:// URL instead."),
    sha256: str = typer.Option(None, "--sha256", help="Expected SHA-256 of the archive (hex)."),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT, "--timeout", help="Seconds to wait to connect / per read."
    ),
    force: bool = typer.Option(False, "--force", help="Download again and replace an existing copy."),
    keep_archive: bool = typer.Option(False, "--keep-archive", help="Keep the downloaded archive."),
    quiet: bool = QUIET,
) -> None:
    """Download real CamVid (fastai or SegNet release), verify and extract it, and check it reads."""
    check_options(timeout=timeout)
    if dataset.lower() != "camvid":
        raise CamsegError(
            f"unknown dataset {dataset!r} — only camvid can be downloaded{did_you_mean(dataset, ['camvid'])}"
        )
    if variant not in VARIANTS:
        raise CamsegError(
            f"unknown --variant {variant!r} — choose one of {', '.join(VARIANTS)}"
            + did_you_mean(variant, VARIANTS)
        )
    if not quiet:
        err_console.print(f"{VARIANTS[variant].about}", highlight=False, soft_wrap=True)
    reporter = Reporter(quiet=quiet)
    try:
        with byte_progress(f"camvid ({variant})", quiet) as on_bytes, reporter.session():
            result = download_camvid(
                variant,
                dest,
                url,
                sha256,
                timeout,
                force,
                keep_archive,
                on_bytes=on_bytes,
                track=reporter.track,
            )
    except KeyboardInterrupt:
        err_console.print("interrupted — run the same command again to resume the download", highlight=False)
        raise typer.Exit(130) from None
    _summary(result)
