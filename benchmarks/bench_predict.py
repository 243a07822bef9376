"""Prediction benchmark: `camseg predict` vs a naive per-image fp32 loop, and colourising masks.

Run: python benchmarks/bench_predict.py [--json] [--images N] [--quick]

- images/s of camseg's predict_files (BatchNorm-folded NHWC model, the next batch read on a thread,
  LUT colouring, PNG writing on threads while the next batch runs), at the CLI's CPU default batch size
  and at --batch-size, vs a naive loop (per image: PIL open, resize, ToTensor, normalise, forward fp32 with
  batch 1 under no_grad, argmax, one boolean mask per class for the colours, PIL save), both writing
  NAME_index.png and NAME_color.png, for DeepLabV3-MobileNetV3-Large (random weights) at 360x480 on CPU;
- colourising one 360x480 mask: palette gather vs a per-class loop vs a per-pixel Python loop.
Both sides run with the same torch thread count (default 1: OpenMP's spinning threads make 2-thread
timings erratic when other jobs share the cores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import emit, interleaved, timeit
from PIL import Image

from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.model.checkpoint import NORMALIZATION, build_model, make_checkpoint, save_checkpoint
from camseg_cli.core.model.device import default_batch_size
from camseg_cli.core.model.inference import inference_model
from camseg_cli.core.model.predict import colorize, predict_files

ARCH, SIZE = "mobilenet_v3_large", (360, 480)
DEFAULT_BATCH = default_batch_size(torch.device("cpu"))


def write_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    classes = preset("camvid32")
    model = build_model(ARCH, classes.num_classes, "none")
    ckpt = make_checkpoint(model, arch=ARCH, classes=classes, image_size=SIZE, run="bench", aug="none")
    ckpt["versions"] = {k: str(v) for k, v in ckpt["versions"].items()}
    return save_checkpoint(path, ckpt | {"epoch": 0, "history": []})


def naive_colour(pred: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """One boolean mask per class (the usual hand-written loop)."""
    color = np.zeros((*pred.shape, 3), dtype=np.uint8)
    for c, rgb in enumerate(palette):
        color[pred == c] = rgb
    return color


def pixel_colour(pred: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """One Python iteration per pixel."""
    color = np.zeros((*pred.shape, 3), dtype=np.uint8)
    for y in range(pred.shape[0]):
        for x in range(pred.shape[1]):
            color[y, x] = palette[pred[y, x]]
    return color


def naive_predict(model: torch.nn.Module, paths: list[Path], out: Path, palette: np.ndarray) -> None:
    """The per-image loop the original project would write."""
    from torchvision.transforms import functional as TF

    model.eval()
    for p in paths:
        image = Image.open(p).convert("RGB")
        w, h = image.size
        x = TF.normalize(TF.to_tensor(image.resize(SIZE[::-1], Image.BILINEAR)), **NORMALIZATION)
        with torch.no_grad():
            logits = model(x[None])["out"]
        if logits.shape[-2:] != (h, w):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        pred = logits.argmax(1)[0].numpy().astype(np.uint8)
        Image.fromarray(pred).save(out / f"{p.stem}_index.png")
        Image.fromarray(naive_colour(pred, palette)).save(out / f"{p.stem}_color.png")


def bench_predict(root: Path, ckpt: Path, batch_size: int, rounds: int) -> dict:
    """images/s of the naive loop and of camseg (at --batch-size and at 1) in alternating rounds
    (medians), so load from other jobs on the machine falls on each alike."""
    paths = sorted(p for split in ("train", "val", "test") for p in (root / split).glob("*.png"))
    palette = preset("camvid32").palette()
    model = build_model(ARCH, len(palette), "none")
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    save, out, naive_out = ("index", "color"), root.parent / "pred", root.parent / "naive"
    naive_out.mkdir()
    sizes = sorted({batch_size, DEFAULT_BATCH}, reverse=True)
    # warm-up: oneDNN picks its kernels per input shape on the first call
    naive_predict(model, paths[:1], naive_out, palette)
    for b in sizes:
        predict_files(ckpt, paths[:b], out / "warm", save, batch_size=b, device="cpu")
    naive, ours, total = [], {b: [] for b in sizes}, []
    for _ in range(rounds):
        start = time.perf_counter()
        naive_predict(model, paths, naive_out, palette)
        naive.append(len(paths) / (time.perf_counter() - start))
        for b in sizes:
            start = time.perf_counter()
            result = predict_files(ckpt, paths, out, save, batch_size=b, device="cpu", workers=0)
            if b == DEFAULT_BATCH:  # the whole call: checkpoint load and model build included
                total.append(len(paths) / (time.perf_counter() - start))
            ours[b].append(result.images_per_s)
            assert not result.failed and len(result.images) == len(paths)
    same = sum(
        np.array_equal(np.asarray(Image.open(out / f"{p.stem}_index.png")), np.asarray(Image.open(q)))
        for p, q in ((p, naive_out / f"{p.stem}_index.png") for p in paths)
    )
    res = {
        "predict_images": len(paths),
        "predict_rounds": rounds,
        "predict_naive_images_per_s": statistics.median(naive),
        f"predict_camseg_b{DEFAULT_BATCH}_with_load_images_per_s": statistics.median(total),
    }
    for b in sizes:
        res[f"predict_camseg_b{b}_images_per_s"] = statistics.median(ours[b])
        res[f"predict_speedup_b{b}"] = statistics.median(o / n for o, n in zip(ours[b], naive))
    res["predict_speedup"] = res[f"predict_speedup_b{DEFAULT_BATCH}"]  # at the CLI's default on CPU
    return res | {"predict_same_index_pngs": f"{same}/{len(paths)}"}


def forward_only(batch_size: int) -> dict:
    """Where the time goes: the model's forward pass alone, ms per image, NCHW vs NHWC, batch 1 vs
    batched, and the BatchNorm-folded NHWC model that evaluate and predict run."""
    model = build_model(ARCH, 32, "none").eval()
    nhwc = build_model(ARCH, 32, "none").eval().to(memory_format=torch.channels_last)
    nhwc.load_state_dict(model.state_dict())
    folded = inference_model(model, torch.device("cpu"))
    x1, xb = torch.randn(1, 3, *SIZE), torch.randn(batch_size, 3, *SIZE)
    c1, cb = (x.contiguous(memory_format=torch.channels_last) for x in (x1, xb))
    with torch.inference_mode():
        ms = interleaved(
            {
                "forward_nchw_batch1_ms": lambda: model(x1),
                f"forward_nchw_batch{batch_size}_ms": lambda: model(xb),
                "forward_nhwc_batch1_ms": lambda: nhwc(c1),
                f"forward_nhwc_batch{batch_size}_ms": lambda: nhwc(cb),
                "forward_nhwc_folded_batch1_ms": lambda: folded(c1),
            },
            repeat=3,
        )
    return {k: v / (batch_size if f"batch{batch_size}" in k else 1) for k, v in ms.items()}


def bench_colourise(crop: int | None) -> dict:
    """Palette gather vs per-class vs per-pixel loop on one 360x480 mask (per-pixel on a crop, scaled)."""
    classes = preset("camvid32")
    palette = classes.palette()
    rng = np.random.default_rng(0)
    mask = np.kron(rng.integers(0, 32, (SIZE[0] // 8, SIZE[1] // 8)), np.ones((8, 8), np.int64)).astype(
        np.uint8
    )
    gather = timeit(lambda: colorize(mask, classes), repeat=9)
    per_class = timeit(lambda: naive_colour(mask, palette), repeat=5)
    part = mask[:crop, :crop] if crop else mask
    scale = mask.size / part.size
    per_pixel = timeit(lambda: pixel_colour(part, palette), repeat=1, warmup=0) * scale
    assert np.array_equal(colorize(mask, classes), naive_colour(mask, palette))
    assert np.array_equal(colorize(part, classes), pixel_colour(part, palette))
    return {
        "colour_gather_ms": gather,
        "colour_per_class_ms": per_class,
        "colour_per_pixel_ms": per_pixel,
        "colour_per_pixel_measured_on": f"{part.shape[0]}x{part.shape[1]} crop, x{scale:.0f}"
        if crop
        else "whole mask",
        "colour_speedup_vs_per_class": per_class / gather,
        "colour_speedup_vs_per_pixel": per_pixel / gather,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--images", type=int, default=12, help="360x480 images to predict")
    ap.add_argument("--batch-size", type=int, default=4, help="a batched size to time beside the default")
    ap.add_argument("--rounds", type=int, default=3, help="alternating naive / camseg rounds (medians)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both (1: steady on a busy box)")
    ap.add_argument("--quick", action="store_true", help="4 images; per-pixel colouring on a 90x120 crop")
    args = ap.parse_args()
    images = 4 if args.quick else args.images
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="camseg-bench-") as tmp:
        root = write_dataset(Path(tmp) / "data", "rgb", images=max(images, 3), size=SIZE, seed=0)
        ckpt = write_checkpoint(Path(tmp) / "bench.pt")
        results = bench_predict(root, ckpt, args.batch_size, 1 if args.quick else args.rounds)
    results |= {"torch_threads": args.threads, **forward_only(args.batch_size)}
    results |= bench_colourise(90 if args.quick else None)
    emit("bench_predict", results, args.json)


if __name__ == "__main__":
    main()
