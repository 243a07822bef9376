"""Data pipeline benchmark: camseg's label decoding vs the original project's, at 720x960 x 32 classes.

Run: python benchmarks/bench_data.py [--json] [--repeat N]
The baseline ("seed") is the course project's approach: one boolean map per class colour
(np.all(label == colour, -1)), stacked and reduced with argmax/amax, measured in the same run.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import emit, timeit

from camseg_cli.core.classes import preset
from camseg_cli.core.labels import _color_lut, decode_rgb_mask, encode_rgb_mask


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
    mask = scene_mask(720, 960, classes.num_classes, np.random.default_rng(0))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    emit("bench_data", bench_label_decode(args.repeat), args.json)


if __name__ == "__main__":
    main()
