"""`camseg export`: the network as ONNX or TorchScript (normalised images in, logits out), verified."""

from __future__ import annotations

from pathlib import Path

import typer

from camseg_cli.app import command, console
from camseg_cli.core.choices import EXPORT_FORMATS
from camseg_cli.core.cpus import use_threads
from camseg_cli.core.sizes import parse_size
from camseg_cli.core.suggest import check_choice, check_file, check_out
from camseg_cli.options import OUT, THREADS


@command("export")
def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A camseg checkpoint (.pt)."),
    fmt: str = typer.Option(..., "--format", "-f", help=f"{' or '.join(EXPORT_FORMATS)}."),
    size: str = typer.Option(None, "--size", help="Input HxW of the export; default the training size."),
    dynamic: bool = typer.Option(False, "--dynamic", help="Leave batch, height and width free."),
    output: Path = typer.Option(None, "--output", help="Model file; default OUT/export/<run>.<ext>."),
    out: Path = OUT,
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Run the export and compare with PyTorch."
    ),
    threads: str = THREADS,
) -> None:
    """Export the model for deployment: a normalised NCHW float batch in, per-class logits out."""
    use_threads(threads)  # before torch loads: OpenMP reads its thread count once
    check_file(checkpoint)  # names and files before torch loads
    check_choice("--format", fmt, EXPORT_FORMATS)
    if output is None:
        check_out(out)
    from camseg_cli.core.model.export import export_checkpoint

    hw = parse_size(size) if size else None
    result = export_checkpoint(checkpoint, fmt, output, out, hw, dynamic, verify)
    h, w = result.size
    shape = "batch x 3 x H x W (dynamic)" if dynamic else f"1 x 3 x {h} x {w}"
    console.print(
        f"wrote {result.path} ({result.format}, input {shape}); input spec in {result.sidecar}",
        soft_wrap=True,
    )
    if result.verified_with:
        console.print(
            f"verified with {result.verified_with}: max |logit diff| vs PyTorch {result.max_abs_diff:.2e}"
        )
    elif verify:
        console.print("[yellow]not verified:[/] onnxruntime is not installed (pip install 'camseg[export]')")
