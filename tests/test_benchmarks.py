"""The GPU training benchmark's code paths, run tiny on the CPU so that a lent GPU's minutes are not
spent finding a broken script. The figures here mean nothing; that each path trains and reports does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
bench_train = pytest.importorskip("bench_train")

CPU = torch.device("cpu")
TINY = ("mobilenet_v3_large", (48, 64), 2)


@pytest.mark.parametrize("how", ["raw_steps", "trainer_steps"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_model_step_cases_train_and_time(how, channels_last):
    r = getattr(bench_train, how)(*TINY, None, channels_last, 2, 1, CPU)
    assert r["step_s"] > 0


@pytest.mark.slow
def test_loader_case_trains_from_pngs_and_measures_the_data_wait(tmp_path):
    data = bench_train.synthetic_data(tmp_path / "data", steps=2, warmup=1, batch=TINY[2])
    r = bench_train.loader_steps(*TINY, None, False, 2, 1, CPU, data, workers=1, aug="flip")
    assert r["step_s"] > 0 and 0 <= r["data_wait"] <= 1 and r["workers"] == 1


def test_profile_window_lists_the_ops_and_writes_a_trace(tmp_path):
    trace = tmp_path / "trace.json"
    table = bench_train.profile_window(*TINY, None, False, 2, CPU, trace)
    assert "aten::" in table and "Self CPU" in table
    events = json.loads(trace.read_text())["traceEvents"]
    assert any("convolution" in str(e.get("name", "")) for e in events)


def test_corruption_benchmark_times_every_corruption_beside_the_read_and_a_corrupted_evaluation(tmp_path):
    bench_corrupt = pytest.importorskip("bench_corrupt")
    rows = bench_corrupt.corruption_times(("fog", "lens_distortion"), ((36, 48),), 3, 1, tmp_path)
    assert [r["what"] for r in rows] == ["read+resize", "fog", "lens_distortion"]
    assert all(r["ms"] > 0 and r["size"] == "36x48" for r in rows)
    r = bench_corrupt.eval_times(tmp_path, 1, (32, 48), 3)
    assert r["eval_clean_s"] > 0 and len(r["eval_per_pass"]) == 21
    assert r["eval_corrupted_s"] == pytest.approx(sum(r["eval_per_pass"].values()))
