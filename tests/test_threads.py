"""Thread counts from the CPUs this process may use (issue 33): affinity, cgroup quota, Slurm, the user's
OMP_NUM_THREADS and --threads, each faked here; a bad --threads answers before torch loads."""

from __future__ import annotations

import pytest

from camseg_cli.core import cpus
from camseg_cli.core.errors import CamsegError
from tests.test_cli import _probe


@pytest.fixture
def four(monkeypatch):
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)


def _quota(tmp_path, text: str):
    p = tmp_path / "cpu.max"
    p.write_text(text + "\n")
    return p


def test_the_affinity_mask_alone_sets_the_count(four, tmp_path):
    t = cpus.choose_threads(None, {}, tmp_path / "absent")
    assert (t.compute, t.source) == (4, "affinity")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("150000 100000", 2),
        ("200000 100000", 2),
        ("50000 100000", 1),
        ("100000 100000", 1),
        ("300000 100000", 3),
    ],
)
def test_a_cgroup_quota_is_rounded_up(four, tmp_path, text, expected):
    assert cpus.cgroup_cpus(_quota(tmp_path, text)) == expected
    t = cpus.choose_threads(None, {}, _quota(tmp_path, text))
    assert (t.compute, t.source) == (expected, "cgroup cpu.max")


def test_no_quota_or_an_unreadable_file_leaves_the_affinity(four, tmp_path):
    assert cpus.cgroup_cpus(_quota(tmp_path, "max 100000")) is None
    assert cpus.cgroup_cpus(_quota(tmp_path, "garbage")) is None
    assert cpus.choose_threads(None, {}, _quota(tmp_path, "max 100000")).compute == 4


def test_slurm_and_the_smallest_limit_win(four, tmp_path):
    assert cpus.choose_threads(None, {"SLURM_CPUS_PER_TASK": "3"}, tmp_path / "x").compute == 3
    both = cpus.choose_threads(None, {"SLURM_CPUS_PER_TASK": "3"}, _quota(tmp_path, "150000 100000"))
    assert (both.compute, both.source) == (2, "cgroup cpu.max")
    assert cpus.choose_threads(None, {"SLURM_CPUS_PER_TASK": "8"}, tmp_path / "x").compute == 4


def test_a_users_omp_num_threads_is_kept_and_threads_beats_it(four, tmp_path):
    env = {"OMP_NUM_THREADS": "6", "SLURM_CPUS_PER_TASK": "2"}
    t = cpus.choose_threads(None, env, tmp_path / "x")
    assert (t.compute, t.source) == (6, "OMP_NUM_THREADS")  # never lowered to the limits
    assert cpus.choose_threads(None, {"OMP_NUM_THREADS": "1"}, tmp_path / "x").compute == 1
    assert cpus.choose_threads("3", env, tmp_path / "x") == cpus.Threads(3, "--threads")


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5"])
def test_a_bad_threads_value_is_refused(bad):
    with pytest.raises(CamsegError, match=f"--threads {bad}: a whole number"):
        cpus.parse_threads(bad)


def test_use_threads_sets_torch_in_a_process_that_has_it(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        assert cpus.use_threads("1") == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_bad_threads_answers_in_one_line_before_torch_loads(tmp_path):
    ckpt = tmp_path / "a.pt"
    ckpt.write_bytes(b"not read")
    argvs = [
        ["train", "--data", str(tmp_path), "--threads", "0"],
        ["evaluate", str(ckpt), "--threads", "-1"],
        ["predict", str(ckpt), str(tmp_path), "--threads", "abc"],
        ["export", str(ckpt), "--format", "onnx", "--threads", "x"],
        ["compare", str(ckpt), str(ckpt), "--threads", "0"],
    ]
    for run in _probe(argvs):
        said = " ".join(run["output"].split())
        assert run["code"] == 1, (run["argv"], said)
        assert said.startswith("error: --threads") and "Traceback" not in said, (run["argv"], said)
        assert run["heavy"] == [], (run["argv"], run["heavy"])


def test_train_records_its_thread_count_in_config_json(tmp_path):
    import json

    import torch
    from typer.testing import CliRunner

    from camseg_cli.cli import app
    from camseg_cli.core.data.sources.synthetic import write_dataset

    data = write_dataset(tmp_path / "data", "rgb", images=6, size=(32, 48), seed=0)
    before = torch.get_num_threads()
    try:
        args = [
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
            "--arch",
            "mobilenet_v3_large",
            "--size",
            "32x48",
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--weights",
            "none",
            "--workers",
            "0",
            "--quiet",
            "--device",
            "cpu",
            "--threads",
            "1",
        ]
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.output
    finally:
        torch.set_num_threads(before)
    config = json.loads((tmp_path / "out" / "runs" / "mobilenet_v3_large-none" / "config.json").read_text())
    assert config["threads"] == 1
