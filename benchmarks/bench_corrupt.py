"""Corruption suite benchmark: what each corruption costs per frame, beside reading the frame and beside
the model it feeds, and what `evaluate --corrupt all --severity 3` costs beside a clean evaluation.

Run: python benchmarks/bench_corrupt.py [--json] [--repeat N] [--severity 3] [--eval-images N] [--quick]

- per corruption: median ms of corrupt() on one 360x480 and one 720x960 street frame (synthetic scene),
  beside the clean read-and-resize of the same frame (PNG decode + resize to 360x480, evaluation's
  per-frame data work) and one MobileNetV3-DeepLabV3 forward at 360x480 on the CPU (batch 1). A
  corruption slower than that forward would make a corrupted evaluation wait on its loader workers.
- evaluation: one synthetic test split, one untrained MobileNetV3 checkpoint: every corrupted pass of the
  suite at one severity, each after a clean pass (seconds from each pass's own timer; the model loaded
  once for all passes, as evaluate --corrupt does); the ratio is the suite's time over one clean pass.
One thread each for torch and OpenCV, a loader worker's view.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from common import emit, interleaved
from PIL import Image

from camseg_cli.core.choices import CORRUPTIONS
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.corruption.suite import Corruptor, corrupt
from camseg_cli.core.data.loading.tensors import resize_image
from camseg_cli.core.data.sources.samples import read_image
from camseg_cli.core.data.sources.scene import render_scene
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.model.checkpoint import build_model, make_checkpoint, save_checkpoint

SIZES = ((360, 480), (720, 960))
MODEL_SIZE = (360, 480)


def forward_ms(repeat: int, size: tuple[int, int] = MODEL_SIZE) -> float:
    """One MobileNetV3-DeepLabV3 forward (batch 1, eval, no grad) on the CPU."""
    model = build_model("mobilenet_v3_large", 11, "none").eval()
    x = torch.rand(1, 3, *size)
    with torch.inference_mode():
        return interleaved({"f": lambda: model(x)}, repeat=repeat)["f"]


def corruption_times(
    names: tuple[str, ...], sizes: tuple[tuple[int, int], ...], severity: int, repeat: int, folder: Path
) -> list[dict]:
    """Per size: read-and-resize of the frame, then each corruption's ms at `severity`."""
    rows = []
    for h, w in sizes:
        image, mask = render_scene(np.random.default_rng(0), (h, w), preset("camvid11"))
        png = folder / f"frame-{h}x{w}.png"
        Image.fromarray(image).save(png)
        fns = {"read+resize": lambda png=png: resize_image(read_image(png), MODEL_SIZE)}
        for n in names:
            fns[n] = lambda n=n, image=image, mask=mask: corrupt(image, mask, n, severity, 0, "0001TP_000010")
        times = interleaved(fns, repeat=repeat)
        rows += [{"size": f"{h}x{w}", "what": k, "ms": v} for k, v in times.items()]
    return rows


def eval_times(folder: Path, images: int, size: tuple[int, int], severity: int) -> dict:
    """Seconds of every corrupted pass at `severity` and of a clean pass before each (the load of a shared
    machine falls on both alike), one checkpoint, the model loaded once as evaluate --corrupt does."""
    from camseg_cli.core.evaluation.scoring.evaluate import evaluate_passes

    data = write_dataset(folder / "data", "index", images=images * 5, size=size, seed=1, classes="camvid11")
    classes = preset("camvid11")
    model = build_model("mobilenet_v3_large", classes.num_classes, "none")
    ckpt = make_checkpoint(
        model, arch="mobilenet_v3_large", classes=classes, image_size=size, run="bench", data=str(data)
    )
    path = save_checkpoint(folder / "bench.pt", ckpt)
    turns = [c for n in CORRUPTIONS for c in (None, Corruptor(n, severity, 0))]
    results = evaluate_passes(path, data, "test", device="cpu", workers=0, bootstrap=0, corruptors=turns)
    clean = [r.seconds for c, r in zip(turns, results) if c is None]
    corrupted = {c.name: r.seconds for c, r in zip(turns, results) if c is not None}
    one_clean = statistics.median(clean)
    return {
        "eval_images": results[0].num_images,
        "eval_clean_s": one_clean,
        "eval_corrupted_s": sum(corrupted.values()),
        "eval_ratio": sum(corrupted.values()) / one_clean,
        "eval_per_pass": corrupted,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--severity", type=int, default=3)
    ap.add_argument(
        "--eval-images", type=int, default=6, help="Test frames of the evaluation part (0: skip)."
    )
    ap.add_argument("--quick", action="store_true", help="Small frames, 2 repeats, 2 evaluation images.")
    ap.add_argument("--skip-frames", action="store_true", help="Only the evaluation part.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    sizes = ((90, 120), (180, 240)) if args.quick else SIZES
    repeat = 2 if args.quick else args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        rows = (
            [] if args.skip_frames else corruption_times(CORRUPTIONS, sizes, args.severity, repeat, Path(tmp))
        )
        results: dict = {"forward_ms": forward_ms(repeat), "severity": args.severity, "per_frame": rows}
        if args.eval_images:
            n = 2 if args.quick else args.eval_images
            results |= eval_times(Path(tmp), n, (90, 120) if args.quick else MODEL_SIZE, args.severity)
    emit("bench_corrupt", results, args.json)
    if not args.json and rows:
        table(results, sizes)


def table(results: dict, sizes: tuple[tuple[int, int], ...]) -> None:
    """Corruptions as rows, ms per frame at each size; '!' where it costs more than the model's forward."""
    by = {(r["what"], r["size"]): r["ms"] for r in results["per_frame"]}
    heads = [f"{h}x{w}" for h, w in sizes]
    print(f"\nms per frame at severity {results['severity']}; MobileNetV3 forward at 360x480: "
          f"{results['forward_ms']:.1f} ms ('!' = slower than that)")  # fmt: skip
    print(f"{'':22}" + "".join(f"{h:>14}" for h in heads))
    for what in ["read+resize", *CORRUPTIONS]:
        cells = [by[(what, h)] for h in heads]
        print(f"{what:22}" + "".join(f"{v:13.1f}{'!' if v > results['forward_ms'] else ' '}" for v in cells))


if __name__ == "__main__":
    main()
