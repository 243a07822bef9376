"""Evaluation benchmark: confusion-matrix throughput vs torchmetrics, and evaluate's memory vs images.

Run: python benchmarks/bench_eval.py [--json] [--quick]

- pixels/s of ConfusionMatrix.update (one bincount per batch, one matrix kept per image) vs torchmetrics'
  MulticlassConfusionMatrix and MulticlassJaccardIndex updates, on the same random int64 tensors
  (8 x 360 x 480, 32 classes, one ignored), one torch thread, timed in turns;
- peak memory of `evaluate_checkpoint` (DeepLabV3-MobileNetV3-Large, random weights, 48x64 images,
  1000 bootstrap resamples) over 50 vs 500 images, each in a fresh subprocess: the growth of the peak
  RSS and of the traced Python/numpy peak during the call. Streaming evaluation keeps it flat; keeping
  predictions would add images x H x W x 8 bytes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import torch
from common import ROOT, emit, interleaved

from camseg_cli.core.evaluation.scoring.metrics import ConfusionMatrix

CLASSES, IGNORE, BATCH, SIZE = 32, 31, 8, (360, 480)
TINY = (48, 64)


def bench_update(repeat: int) -> dict:
    """pixels/s of one batch update: camseg vs torchmetrics (default, and without argument checks)."""
    from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassJaccardIndex

    g = torch.Generator().manual_seed(0)
    pred = torch.randint(0, CLASSES, (BATCH, *SIZE), generator=g)
    target = torch.randint(0, CLASSES, (BATCH, *SIZE), generator=g)
    ours = ConfusionMatrix(CLASSES, IGNORE)
    metrics = {
        "camseg": ours.update,
        "tm_confmat": MulticlassConfusionMatrix(CLASSES, ignore_index=IGNORE).update,
        "tm_confmat_novalidate": MulticlassConfusionMatrix(
            CLASSES, ignore_index=IGNORE, validate_args=False
        ).update,
        "tm_jaccard_novalidate": MulticlassJaccardIndex(
            CLASSES, ignore_index=IGNORE, validate_args=False
        ).update,
    }
    check = MulticlassConfusionMatrix(CLASSES, ignore_index=IGNORE)
    check.update(pred, target)
    ours.update(pred, target)
    assert torch.equal(torch.stack(ours._per_image).sum(0), check.compute())  # the same counts
    pixels = pred.numel()
    ms = interleaved({name: (lambda f=f: f(pred, target)) for name, f in metrics.items()}, repeat)
    out = {name: pixels / t * 1000 for name, t in ms.items()}
    res = {f"cm_{k}_mpixels_per_s": v / 1e6 for k, v in out.items()}
    res["cm_speedup_vs_tm_confmat"] = out["camseg"] / out["tm_confmat"]
    res["cm_speedup_vs_tm_confmat_novalidate"] = out["camseg"] / out["tm_confmat_novalidate"]
    return res


# ------------------------------------------------------------------------------------------- memory


def _status(field: str) -> int:
    """A /proc/self/status memory figure (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def child(ckpt: str, data: str) -> None:
    """In a fresh process: evaluate once; print how far the peak RSS and the traced peak rose (bytes)."""
    import gc

    from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint

    torch.set_num_threads(1)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS mark (VmHWM) to the current RSS: imports no longer count
    before = _status("VmRSS")
    tracemalloc.start()
    result = evaluate_checkpoint(ckpt, data, "test", batch_size=4, device="cpu", bootstrap=1000, workers=0)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    growth = _status("VmHWM") - before
    print(json.dumps({"images": result.num_images, "rss_growth": growth, "traced_peak": traced}))


def make_run(folder: Path, images: int) -> tuple[Path, Path]:
    """A synthetic dataset whose test split holds `images` 48x64 images, and a checkpoint that reads it."""
    from camseg_cli.core.data.classes.maps import preset
    from camseg_cli.core.data.sources.synthetic import write_dataset
    from camseg_cli.core.model.checkpoint import build_model, make_checkpoint, save_checkpoint

    data = write_dataset(folder / "data", "rgb", images=images + 2, size=TINY, seed=0, split=(0, 0, 1))
    torch.manual_seed(0)
    classes = preset("camvid32")
    ckpt = make_checkpoint(build_model("mobilenet_v3_large", classes.num_classes, "none"),
                           arch="mobilenet_v3_large", classes=classes, image_size=TINY)  # fmt: skip
    ckpt["versions"] = {k: str(v) for k, v in ckpt["versions"].items()}
    extra = {"run": "bench", "data": str(data), "layout": "rgb", "aug": "none", "epoch": 0, "history": []}
    return save_checkpoint(folder / "bench.pt", ckpt | extra), data


def bench_memory(counts: tuple[int, int]) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="camseg-bench-") as tmp:
        for n in counts:
            ckpt, data = make_run(Path(tmp) / str(n), n)
            cmd = [sys.executable, __file__, "--child", str(ckpt), str(data)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
            out[n] = json.loads(done.stdout.strip().splitlines()[-1])
            assert out[n]["images"] == n
    small, large = counts
    mb, kb, px = 1 / 2**20, 1 / 2**10, TINY[0] * TINY[1]
    per_image = (out[large]["rss_growth"] - out[small]["rss_growth"]) / (large - small)
    return {
        f"eval_rss_growth_mb_{small}": out[small]["rss_growth"] * mb,
        f"eval_rss_growth_mb_{large}": out[large]["rss_growth"] * mb,
        f"eval_traced_peak_mb_{small}": out[small]["traced_peak"] * mb,
        f"eval_traced_peak_mb_{large}": out[large]["traced_peak"] * mb,
        "eval_rss_kb_per_image": per_image * kb,
        # what evaluate must keep per image: the 32x32 int64 matrix (torch, numpy stack, float64 copy)
        # and the bootstrap's draw counts (1000 resamples: int64 indices, int64 and float64 counts)
        "eval_record_kb_per_image": (CLASSES**2 * 8 * 3 + 1000 * 8 * 3) * kb,
        "eval_kept_prediction_kb_per_image_48x64": px * 8 * kb,
        "eval_kept_prediction_kb_per_image_360x480": SIZE[0] * SIZE[1] * 8 * kb,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="20 vs 200 images, 3 repeats")
    ap.add_argument("--child", nargs=2, metavar=("CKPT", "DATA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    torch.set_num_threads(1)  # steady figures on a shared machine; the same for every candidate
    results = bench_update(3 if args.quick else args.repeat)
    results |= bench_memory((20, 200) if args.quick else (50, 500))
    emit("bench_eval", results, args.json)


if __name__ == "__main__":
    main()
