"""Cityscapes-scale loading on the CPU: samples/s at 1024x2048 (label ids decoded, augmented to --size),
with --cache none, ram and disk, and the memory each holds; figures for benchmarks/NOTES.md's GPU plan.

Run: python benchmarks/bench_cityscapes.py [--json] [--images N] [--size 512x1024] [--workers 2]
(or python benchmarks/bench_data.py --cityscapes). Synthetic frames in the cityscapes layout (`camseg
synth --layout cityscapes`), so the decode path is the real one: PNG image, labelIds PNG, 34 -> 19 LUT.
The baseline is the same loader without a cache, measured in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import torch
from common import emit

from camseg_cli.core.data.augment.presets import AugSpec, EpochDataset, TrainTransform, parse_aug
from camseg_cli.core.data.loading.cache import sample_dataset
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.synthetic_cityscapes import write_cityscapes_family

SOURCE = (1024, 2048)
CITYSCAPES_TRAIN = 2975


def _status(field: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS: resident; RssAnon: not backed by a file)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _epochs(make, epochs: int) -> tuple[list[float], int, int]:
    """Samples/s of each pass over make()'s dataset (the first includes building a cache), and the
    growth of resident and anonymous memory meanwhile."""
    rss0, anon0 = _status("VmRSS"), _status("RssAnon")
    start = time.perf_counter()
    ds = make()
    rates = []
    for epoch in range(epochs):
        for i in range(len(ds.dataset)):
            ds[epoch, i]
        now = time.perf_counter()
        rates.append(len(ds.dataset) / (now - start))
        start = now
    return rates, _status("VmRSS") - rss0, _status("RssAnon") - anon0


def _loader(ds, workers: int, epochs: int, batch: int = 2) -> float:
    keys = [(e, i) for e in range(epochs) for i in range(len(ds.dataset))]
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=keys, num_workers=workers)
    start, n = time.perf_counter(), 0
    for images, _ in loader:
        n += images.shape[0]
    return n / (time.perf_counter() - start)


def bench(root: Path, size: tuple[int, int], workers: int) -> dict:
    info = open_dataset(root)
    refs, classes = info.samples("train"), info.classes
    spec = AugSpec(parse_aug("crop,flip"), size, classes.ignore_index, seed=0)

    def make(cache: str, cache_dir: Path):
        return lambda: EpochDataset(
            sample_dataset(refs, classes, None, cache, cache_dir), TrainTransform(spec)
        )

    make("none", root)()[0, 0]  # warm-up of the decoders and OpenCV kernels
    out: dict = {"images": len(refs), "source": f"{SOURCE[0]}x{SOURCE[1]}", "size": f"{size[0]}x{size[1]}"}
    rates, _, _ = _epochs(make("none", root), 1)
    out["none_samples_per_s"] = rates[0]
    for cache in ("disk", "ram"):
        with tempfile.TemporaryDirectory(dir=root.parent) as cache_dir:
            (e1, e2), rss, anon = _epochs(make(cache, Path(cache_dir)), 2)
            out[f"{cache}_epoch1_samples_per_s"], out[f"{cache}_epoch2_samples_per_s"] = e1, e2
            out[f"{cache}_rss_growth_mb"], out[f"{cache}_anon_growth_mb"] = rss / 1e6, anon / 1e6
            if cache == "disk":
                files = [p for p in Path(cache_dir).rglob("*") if p.is_file()]
                per_image = sum(p.stat().st_size for p in files) / len(refs)
                out["disk_cache_mb_per_image"] = per_image / 1e6
                out["disk_cache_gb_full_train"] = per_image * CITYSCAPES_TRAIN / 1e9
                ds = make(cache, Path(cache_dir))()
                out[f"loader_disk_{workers}_workers_samples_per_s"] = _loader(ds, workers, 2)
    out[f"loader_none_{workers}_workers_samples_per_s"] = _loader(make("none", root)(), workers, 1)
    out["disk_epoch2_vs_none"] = out["disk_epoch2_samples_per_s"] / out["none_samples_per_s"]
    # what the RAM cache holds is the disk cache's bytes (image + uint8 mask); the measured growth adds
    # the decoders' transient buffers that the allocator keeps
    out["ram_anon_growth_mb_per_image"] = out["ram_anon_growth_mb"] / len(refs)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--images", type=int, default=12, help="synthetic frames (about 2/3 of them train)")
    ap.add_argument("--size", default="512x1024", help="training crop HEIGHTxWIDTH")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader processes for the loader figures")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # as in a DataLoader worker
    cv2.setNumThreads(0)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="camseg-bench-cs-") as tmp:
        root = write_cityscapes_family(Path(tmp) / "cityscapes", "cityscapes", args.images, SOURCE, seed=0)
        results = bench(root, size, args.workers)  # type: ignore[arg-type]
    emit(
        "bench_cityscapes",
        results | {"note": "synthetic cityscapes layout, one thread per sample"},
        args.json,
    )


if __name__ == "__main__":
    main()
