"""`camseg predict`: class-index masks, colour masks and overlays for images, folders or globs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from camseg_cli.app import command, console, err_console
from camseg_cli.core.checks import check_options
from camseg_cli.core.choices import PREDICT_OUTPUTS
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.suggest import check_choices, check_device, check_file, check_out
from camseg_cli.options import BATCH_SIZE, DEVICE, QUIET, THREADS, WORKERS
from camseg_cli.progress import Reporter


@command("predict")
def predict_cmd(
    checkpoint: Path = typer.Argument(..., help="A camseg checkpoint (.pt)."),
    inputs: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or globs."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder; default out/predictions/<run>/."),
    save: str = typer.Option(
        ",".join(PREDICT_OUTPUTS), "--save", help=f"Comma-separated: {', '.join(PREDICT_OUTPUTS)}."
    ),
    alpha: float = typer.Option(0.5, "--alpha", help="Colour weight of the overlay, 0..1."),
    tta: bool = typer.Option(False, "--tta", help="Average with the prediction of the mirrored image."),
    batch_size: int | None = BATCH_SIZE,
    device: str = DEVICE,
    workers: int = WORKERS,
    quiet: bool = QUIET,
    threads: str = THREADS,
) -> None:
    """Predict segmentation masks at each input image's own resolution."""
    use_threads(threads)  # before torch loads: OpenMP reads its thread count and wait policy once
    check_options(alpha=alpha, batch_size=batch_size, workers=workers)
    check_file(checkpoint)  # names and files before torch loads
    check_choices("--save", save, PREDICT_OUTPUTS)
    check_device(device)
    if out is not None:
        check_out(out)
    from camseg_cli.core.model.predict import predict_files

    reporter = Reporter(quiet=quiet)
    with reporter.session():
        result = predict_files(
            checkpoint,
            inputs,
            out,
            save.split(","),
            tta,
            batch_size,
            device,
            alpha,
            workers,
            track=reporter.track,
        )
    for path, why in result.skipped:
        err_console.print(
            f"[dim]not read:[/] {escape(path)} — {escape(why)}", soft_wrap=True, highlight=False
        )
    for path, why in result.failed:
        err_console.print(
            f"[yellow]failed:[/] {escape(path)} — {escape(why)}", soft_wrap=True, highlight=False
        )
    n = len(result.images)
    speed = f" ({result.images_per_s:.2f} images/s)" if n else ""
    failed = f"; {len(result.failed)} failed" if result.failed else ""
    failed += f"; {len(result.skipped)} other files not read" if result.skipped else ""
    console.print(
        f"{n} images in {result.seconds:.1f}s{speed} → {result.out} ({result.files} files){failed}",
        highlight=False,
        soft_wrap=True,
    )
    if result.failed or not n:
        raise typer.Exit(1)
