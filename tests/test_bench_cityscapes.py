"""bench_cityscapes' code path, run tiny: every figure is reported and the cache size is what the
packed image + mask bytes say (the rates mean nothing here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from camseg_cli.core.data.sources.synthetic_cityscapes import write_cityscapes_family

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench_cityscapes = pytest.importorskip("bench_cityscapes")


def test_bench_cityscapes_reports_rates_and_memory(tmp_path):
    root = write_cityscapes_family(tmp_path / "cs", "cityscapes", images=6, size=(64, 128), seed=0)
    r = bench_cityscapes.bench(root, (32, 64), workers=0)
    assert r["images"] == 4  # 6 frames: 4 train, 1 val, 1 unlabelled test
    for key in ("none_samples_per_s", "disk_epoch2_samples_per_s", "ram_epoch2_samples_per_s"):
        assert r[key] > 0
    packed = 64 * 128 * 4  # uint8 RGB + uint8 mask per pixel
    assert packed / 1e6 <= r["disk_cache_mb_per_image"] < 1.5 * packed / 1e6 + 0.01
    assert r["disk_cache_gb_full_train"] == pytest.approx(r["disk_cache_mb_per_image"] * 2975 / 1e3)
