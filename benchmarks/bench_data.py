"""Data pipeline benchmark: camseg vs the original project's approach, at 720x960 RGB-label data.

Run: python benchmarks/bench_data.py [--json] [--repeat N] [--images N] [--quick]
     python benchmarks/bench_data.py --cityscapes [bench_cityscapes.py's options]: 1024x2048 instead

Two parts, each beside its baseline measured in the same run:
- label decoding at 720x960 x 32 classes: camseg's one LUT gather vs the original's per-class maps
  (np.all(label == colour, -1)), stacked and reduced with argmax;
- samples/s of load + decode + augment to 360x480 per preset: the original's Dataset (PIL re-read every
  item, per-class decoding, torchvision transforms on image and mask separately) vs camseg's SegDataset
  + albumentations preset, with --cache none, ram and disk (epoch 1 includes building the cache).
  camseg's samples are uint8 and are normalised where the model runs; here that runs on the CPU and
  is timed with the sample, so both sides end at the same normalised float tensor.
One process, one sample at a time (a DataLoader worker's view): torch and OpenCV use one thread each.
- samples/s through a DataLoader with worker processes (--workers, RAM cache, batch 8, preset flip),
  batches normalised in the main process: workers handing out uint8 images and masks (camseg now) vs
  float32 images and int64 masks normalised in the workers (camseg before): 5x fewer bytes per sample
  through shared memory, and on a GPU through the host-to-device copy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from common import emit, timeit
from PIL import Image

from camseg_cli.core.data.augment.presets import CROP_SCALE, AugSpec, EpochDataset, TrainTransform, parse_aug
from camseg_cli.core.data.classes.labels import _color_lut, decode_rgb_mask, encode_rgb_mask
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.loading.cache import sample_dataset
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.model.checkpoint import NORMALIZATION
from camseg_cli.core.model.inference import ModelInput

SOURCE, SIZE = (720, 960), (360, 480)
PRESETS = ("none", "flip", "crop", "perspective", "jitter", "all", "sharpen", "contrast")
ORIGINAL_PRESETS = ("none", "flip", "crop", "perspective", "jitter", "all")  # what the original had


def seed_decode(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """The original approach: per-class equality maps, stacked, then argmax over classes."""
    maps = [np.all(label == colour, axis=-1) for colour in palette]
    return np.argmax(np.stack(maps, axis=-1).astype(np.float32), axis=-1)


def scene_mask(h: int, w: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """A blocky class map with all classes present (decoding cost does not depend on content)."""
    coarse = rng.integers(0, n, size=(h // 8, w // 8))
    return np.kron(coarse, np.ones((8, 8), dtype=np.int64))


def bench_label_decode(repeat: int) -> dict:
    classes = preset("camvid32")
    mask = scene_mask(*SOURCE, classes.num_classes, np.random.default_rng(0))
    rgb = encode_rgb_mask(mask, classes)
    _color_lut(classes.colors)  # the LUT is built once per class map, not per image
    assert np.array_equal(decode_rgb_mask(rgb, classes), mask)
    assert np.array_equal(seed_decode(rgb, classes.palette()), mask)
    ours = timeit(lambda: decode_rgb_mask(rgb, classes), repeat=repeat)
    seed = timeit(lambda: seed_decode(rgb, classes.palette()), repeat=max(2, repeat // 3))
    return {
        "label_decode_ms": ours,
        "label_decode_seed_ms": seed,
        "label_decode_speedup": seed / ours,
    }


# ------------------------------------------------------------------------------------------ pipeline


TO_INPUT = ModelInput(NORMALIZATION, torch.device("cpu"))


class Normalised(torch.utils.data.Dataset):
    """camseg's sample as the model gets it: TrainTransform's uint8 output normalised by ModelInput
    (in a worker process, this is also camseg's loader as it was: float32 images, int64 masks)."""

    def __init__(self, dataset: EpochDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.dataset[key]
        return TO_INPUT(image[None])[0], mask.long()


class OriginalDataset:
    """The original project's loader: PIL re-read every item, per-class label decoding, and torchvision
    transforms applied to image and mask separately (two random draws: wrong, but this is about cost)."""

    def __init__(self, refs: list, palette: np.ndarray, name: str):
        from torchvision import transforms as T

        parts, near = parse_aug(name), T.InterpolationMode.NEAREST

        def geometry(interp) -> list:
            if "crop" in parts:
                out = [T.RandomResizedCrop(SIZE, scale=CROP_SCALE, interpolation=interp)]
            else:
                out = [T.Resize(SIZE, interpolation=interp)]
            out += [T.RandomHorizontalFlip()] if "flip" in parts else []
            out += [T.RandomPerspective(0.2, p=0.5, interpolation=interp)] if "perspective" in parts else []
            return out

        colour = [T.ColorJitter(0.3, 0.3, 0.3, 0.05)] if "jitter" in parts else []
        norm = T.Normalize(NORMALIZATION["mean"], NORMALIZATION["std"])
        self.image_tf = T.Compose([*geometry(T.InterpolationMode.BILINEAR), *colour, T.ToTensor(), norm])
        self.mask_tf = T.Compose(geometry(near))  # generous: the original also resized masks bilinearly
        self.refs, self.palette = refs, palette

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ref = self.refs[i]
        image = Image.open(ref.image).convert("RGB")
        label = np.asarray(Image.open(ref.mask).convert("RGB"))
        mask = Image.fromarray(seed_decode(label, self.palette).astype(np.uint8))
        return self.image_tf(image), torch.as_tensor(np.array(self.mask_tf(mask)), dtype=torch.int64)


def epoch_rates(make, epochs: int) -> list[float]:
    """Samples/s of each full pass over make()'s dataset; the first includes making it (cache builds)."""
    start = time.perf_counter()
    ds = make()
    rates = []
    for epoch in range(epochs):
        for i in range(len(ds)):
            ds[i] if isinstance(ds, OriginalDataset) else ds[epoch, i]
        now = time.perf_counter()
        rates.append(len(ds) / (now - start))
        start = now
    return rates


def bench_pipeline(root: Path, presets: tuple[str, ...], baseline_images: int) -> dict:
    """samples/s per preset: original vs camseg with --cache none / ram / disk, epochs 1 and 2."""
    info = open_dataset(root)
    refs = [r for split in ("train", "val", "test") for r in info.splits.get(split, [])]
    classes, palette = info.classes, info.classes.palette()
    out = {}
    for name in presets:
        spec = AugSpec(parse_aug(name), SIZE, classes.ignore_index, seed=0)

        def camseg(cache: str, cache_dir: Path, spec=spec):
            return lambda: Normalised(
                EpochDataset(sample_dataset(refs, classes, None, cache, cache_dir), TrainTransform(spec))
            )

        camseg("none", root)()[0, 0]  # warm-up: first calls of OpenCV / torch kernels, not the pipeline
        row = {"camseg_none": epoch_rates(camseg("none", root), 1)[0]}
        if name in ORIGINAL_PRESETS:
            OriginalDataset(refs[:1], palette, name)[0]
            base = epoch_rates(lambda n=name: OriginalDataset(refs[:baseline_images], palette, n), 1)[0]
            row["original"] = base
        for cache in ("ram", "disk"):
            with tempfile.TemporaryDirectory(dir=root.parent) as cache_dir:
                e1, e2 = epoch_rates(camseg(cache, Path(cache_dir)), 2)
            row[f"{cache}_epoch1"], row[f"{cache}_epoch2"] = e1, e2
        out[name] = row
    return out


def bench_loader(root: Path, workers: int, epochs: int, batch: int = 8) -> dict:
    """samples/s out of a DataLoader with `workers` processes, uint8 vs float32 samples, in turns."""
    info = open_dataset(root)
    refs = [r for split in ("train", "val", "test") for r in info.splits.get(split, [])]
    classes = info.classes
    spec = AugSpec(parse_aug("flip"), SIZE, classes.ignore_index, seed=0)
    base = sample_dataset(refs, classes, None, "ram", root)  # built once, shared with the workers by fork

    def run(dataset: torch.utils.data.Dataset) -> float:
        keys = [(e, i) for e in range(epochs) for i in range(len(base))]
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch, sampler=keys, num_workers=workers, persistent_workers=False
        )
        start, n = time.perf_counter(), 0
        for images, masks in loader:
            x = TO_INPUT(images) if images.dtype == torch.uint8 else images
            masks.long()
            n += x.shape[0]
        return n / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {"loader_uint8": [], "loader_float32": []}
    for _ in range(3):  # in turns, medians: other jobs on the machine fall on both alike
        rates["loader_uint8"].append(run(EpochDataset(base, TrainTransform(spec))))
        rates["loader_float32"].append(run(Normalised(EpochDataset(base, TrainTransform(spec)))))
    out = {f"{k}_samples_per_s": float(np.median(v)) for k, v in rates.items()}
    out["loader_uint8_vs_float32"] = out["loader_uint8_samples_per_s"] / out["loader_float32_samples_per_s"]
    sample = EpochDataset(base, TrainTransform(spec))[0, 0]
    out["loader_bytes_per_sample_uint8"] = sum(t.numel() * t.element_size() for t in sample)
    wide = Normalised(EpochDataset(base, TrainTransform(spec)))[0, 0]
    out["loader_bytes_per_sample_float32"] = sum(t.numel() * t.element_size() for t in wide)
    return out | {"loader_workers": workers, "loader_batch": batch}


def summarise(pipe: dict) -> dict:
    """The headline ratios: epoch 2 with a cache vs the original, and vs camseg without a cache."""
    with_base = [r for r in pipe.values() if "original" in r]
    e2 = [min(r["ram_epoch2"], r["disk_epoch2"]) / r["original"] for r in with_base]
    return {
        "pipeline_nocache_vs_original_min": min(r["camseg_none"] / r["original"] for r in with_base),
        "pipeline_epoch2_cache_vs_original_min": min(e2),
        "pipeline_epoch2_cache_vs_original_all": min(pipe["all"]["ram_epoch2"], pipe["all"]["disk_epoch2"])
        / pipe["all"]["original"],
        "pipeline_epoch2_vs_epoch1_ram_min": min(r["ram_epoch2"] / r["ram_epoch1"] for r in pipe.values()),
    }


def table(pipe: dict) -> str:
    cols = ("original", "camseg_none", "ram_epoch1", "ram_epoch2", "disk_epoch1", "disk_epoch2")
    lines = [
        "samples/s, 720x960 -> 360x480, one thread",
        f"{'preset':<12}" + "".join(f"{c:>13}" for c in cols),
    ]
    for name, row in pipe.items():
        cells = "".join(f"{row[c]:>13.1f}" if c in row else f"{'-':>13}" for c in cols)
        ratio = f"  epoch2/original {row['ram_epoch2'] / row['original']:.0f}x" if "original" in row else ""
        lines.append(f"{name:<12}{cells}{ratio}")
    return "\n".join(lines)


def main() -> None:
    if "--cityscapes" in sys.argv[1:]:  # the Cityscapes-scale case lives in its own script
        import bench_cityscapes

        bench_cityscapes.main([a for a in sys.argv[1:] if a != "--cityscapes"])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeat", type=int, default=9, help="label-decode timings per figure")
    ap.add_argument("--images", type=int, default=24, help="720x960 samples for the pipeline figures")
    ap.add_argument("--baseline-images", type=int, default=8, help="samples for the slow original loader")
    ap.add_argument("--quick", action="store_true", help="8 images, presets none and all only")
    ap.add_argument("--no-pipeline", action="store_true", help="label decoding only")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader processes for the loader figures")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as in a DataLoader worker
    cv2.setNumThreads(0)
    results = bench_label_decode(3 if args.quick else args.repeat)
    pipe = None
    if not args.no_pipeline:
        images = 8 if args.quick else args.images
        presets = ("none", "all") if args.quick else PRESETS
        with tempfile.TemporaryDirectory(prefix="camseg-bench-") as tmp:
            root = write_dataset(Path(tmp) / "data", "rgb", images=images, size=SOURCE, seed=0)
            pipe = bench_pipeline(root, presets, min(images, 4 if args.quick else args.baseline_images))
            results |= bench_loader(root, args.workers, epochs=1 if args.quick else 3)
        results |= {"pipeline_images": images, **summarise(pipe), "pipeline": pipe}
    emit("bench_data", results, args.json)
    if pipe and not args.json:
        print(table(pipe))


if __name__ == "__main__":
    main()
