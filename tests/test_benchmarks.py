"""The GPU training benchmark's code paths, run tiny on the CPU so that a lent GPU's minutes are not
spent finding a broken script. The figures here mean nothing; that each path trains and reports does."""

from __future__ import annotations

import json
import os
import sys
import time
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


def _shared_cpu():
    return pytest.importorskip("bench_shared_cpu")


def _src(tmp_path: Path) -> Path:
    (tmp_path / "before" / "camseg_cli").mkdir(parents=True)
    return tmp_path / "before"


def test_shared_cpu_benchmark_runs_the_issues_case_on_the_data_it_is_given(tmp_path, capsys):
    bench = _shared_cpu()
    data = tmp_path / "camvid"
    data.mkdir()
    argv = ["--before-src", str(_src(tmp_path)), "--data", str(data), "--size", "96x128", "--layout", "index"]
    a = bench.parse(argv)
    train, evaluate = bench.commands(a, a.data, tmp_path / "out")
    expected = ["train", "--data", str(data), "--layout", "index", "--arch", "mobilenet_v3_large"]
    expected += ["--weights", "none", "--epochs", "2", "--batch-size", "8", "--size", "96x128", "--device"]
    assert train[: len(expected) + 1] == [*expected, "cpu"]
    assert "--aug" in train and train[train.index("--aug") + 1] == "none" and "--workers" not in train
    assert evaluate[:8] == ["evaluate", str(tmp_path / "out" / bench.CHECKPOINT), "--data", str(data)] + [
        "--layout",
        "index",
        "--split",
        "val",
    ]
    bench.main([*argv, "--dry-run"])  # prints the two commands and runs nothing
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["camseg", "train"], ["camseg", "evaluate"]]
    assert f"--data {data}" in lines[0] and "--size 96x128" in lines[0]


def test_shared_cpu_benchmark_refuses_a_missing_folder_in_one_line(tmp_path, capsys):
    bench = _shared_cpu()
    for argv in (
        ["--before-src", str(_src(tmp_path)), "--data", str(tmp_path / "absent")],
        ["--before-src", str(tmp_path)],  # a folder without camseg_cli/
    ):
        with pytest.raises(SystemExit) as e:
            bench.parse(argv)
        assert e.value.code == 2
        said = capsys.readouterr().err.strip().splitlines()[-1]
        assert ": error: --" in said and "not a folder" in said or "no camseg_cli" in said, said


def test_shared_cpu_benchmark_table_is_medians_and_ratios_to_alone():
    bench = _shared_cpu()
    times = {"camseg": {0: [(10.0, 4.0), (12.0, 6.0), (11.0, 5.0)], 1: [(22.0, 15.0)]}}
    rows = bench.table(times)
    assert [(r["busy"], r["train_s"], r["eval_s"]) for r in rows] == [(0, 11.0, 5.0), (1, 22.0, 15.0)]
    assert (rows[0]["train_x"], rows[1]["train_x"], rows[1]["eval_x"]) == (1.0, 2.0, 3.0)


def test_shared_cpu_benchmark_runs_the_older_code_it_is_given_not_the_repositorys(tmp_path):
    bench = _shared_cpu()
    before = _src(tmp_path)
    (before / "camseg_cli" / "__init__.py").write_text("")
    assert bench.imported(before) == (before / "camseg_cli").resolve()
    root = Path(__file__).resolve().parents[1]
    assert bench.imported(root) == (root / "camseg_cli").resolve()


@pytest.mark.parametrize("same_session", [False, True])
def test_shared_cpu_benchmark_spins_outside_its_session_unless_told(same_session):
    bench = _shared_cpu()
    spinning = bench.spinners(2, same_session)
    try:
        time.sleep(0.3)
        assert all(s.poll() is None for s in spinning)  # still looping
        sessions = {os.getsid(s.pid) for s in spinning}
        if same_session:
            assert sessions == {os.getsid(0)}
        else:  # each its own session leader: another program's place in the scheduler's autogroups
            assert sessions == {s.pid for s in spinning}
    finally:
        for s in spinning:
            s.kill()
            s.wait()


@pytest.mark.slow
def test_shared_cpu_benchmark_quick_mode_trains_and_evaluates_beside_a_busy_process(tmp_path, capsys):
    bench = _shared_cpu()
    root = Path(__file__).resolve().parents[1]
    bench.main(["--before-src", str(root), "--quick", "--busy", "0,1", "--json"])
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cells = {(r["variant"], r["busy"]) for r in doc["rows"]}
    assert cells == {(v, b) for v in ("camseg", "before") for b in (0, 1)}
    assert all(r["train_s"] > 0 and r["eval_s"] > 0 and len(r["runs"]) == 1 for r in doc["rows"])
