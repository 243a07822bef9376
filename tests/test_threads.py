"""Thread counts from the CPUs this process may use (issue 33): affinity, cgroup quota, Slurm, the user's
OMP_NUM_THREADS and --threads, each faked here; a bad --threads answers before torch loads."""

from __future__ import annotations

import pytest

from camseg_cli.cli import app
from camseg_cli.core import cpus
from camseg_cli.core.errors import CamsegError
from tests.test_cli import _probe

# Commands whose work is not torch's, OpenCV's or BLAS's threads: everything else must take --threads.
NOT_COMPUTING = {
    "download": "network and disk: a transfer, a checksum and an archive extraction",
    "synth": "renders in --workers processes of single-threaded numpy and PIL",
}
COMPUTING = sorted(c.name for c in app.registered_commands if c.name not in NOT_COMPUTING)


def _options(name: str) -> set[str]:
    import typer

    group = typer.main.get_command(app)
    return {opt for p in group.commands[name].params for opt in getattr(p, "opts", [])}


def test_every_computing_command_takes_threads():
    names = {c.name for c in app.registered_commands}
    assert set(NOT_COMPUTING) <= names, "an exempt command was renamed or removed: update NOT_COMPUTING"
    assert {"train", "evaluate", "stats", "augment-preview", "corrupt-preview"} <= set(COMPUTING)
    lacking = [name for name in COMPUTING if "--threads" not in _options(name)]
    assert lacking == [], f"computing commands without --threads: {lacking}"
    assert [n for n in NOT_COMPUTING if "--threads" in _options(n)] == []  # then it belongs in COMPUTING


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
        ["stats", "--data", str(tmp_path), "--threads", "0"],
        ["augment-preview", "--data", str(tmp_path), "--threads", "-2"],
        ["corrupt-preview", "--data", str(tmp_path), "--threads", "two"],
    ]
    assert {argv[0] for argv in argvs} == set(COMPUTING)  # every computing command is probed
    for run in _probe(argvs):
        said = " ".join(run["output"].split())
        assert run["code"] == 1, (run["argv"], said)
        assert said.startswith("error: --threads") and "Traceback" not in said, (run["argv"], said)
        assert run["heavy"] == [], (run["argv"], run["heavy"])


def _train_config(tmp_path, *extra: str) -> dict:
    """A one-epoch CPU run on six synthetic images; its config.json."""
    import json

    import torch
    from typer.testing import CliRunner

    from camseg_cli.core.data.sources.synthetic import write_dataset

    data = write_dataset(tmp_path / "data", "rgb", images=6, size=(32, 48), seed=0)
    args = ["train", "--data", str(data), "--out", str(tmp_path / "out"), "--arch", "mobilenet_v3_large"]
    args += ["--size", "32x48", "--batch-size", "2", "--epochs", "1", "--weights", "none", "--quiet"]
    before = torch.get_num_threads()
    try:
        done = CliRunner().invoke(app, [*args, "--device", "cpu", *extra])
        assert done.exit_code == 0, done.output
    finally:
        torch.set_num_threads(before)
    return json.loads((tmp_path / "out" / "runs" / "mobilenet_v3_large-none" / "config.json").read_text())


def test_train_records_its_thread_count_in_config_json(tmp_path):
    assert _train_config(tmp_path, "--workers", "0", "--threads", "1")["threads"] == 1


def test_loader_workers_do_not_shrink_the_main_process_threads(four, monkeypatch, tmp_path):
    """Measured on 2 cores: one main thread beside 2 workers was 10-20% slower alone than two (with
    passive waiting, two were as robust beside a busy process), so workers are not subtracted."""
    for name in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cpus, "cgroup_cpus", lambda path=None: None)
    assert _train_config(tmp_path / "one", "--workers", "1")["threads"] == 4
    assert _train_config(tmp_path / "default")["threads"] == 4  # default workers on 4 CPUs


def _cv2_threads_after(value: str | None, env: dict[str, str]) -> int:
    """cv2.getNumThreads() in a fresh interpreter after use_threads(value): OpenCV sizes its pool at load."""
    import os
    import subprocess
    import sys

    code = "import sys; from camseg_cli.core.cpus import use_threads; use_threads(sys.argv[1] or None); "
    code += "import cv2; print(cv2.getNumThreads())"
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", cpus.OPENCV_THREADS)}
    done = subprocess.run(
        [sys.executable, "-c", code, value or ""],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def _wait_after(env: dict[str, str]) -> tuple[str, str]:
    """OMP_WAIT_POLICY and GOMP_SPINCOUNT as a fresh interpreter's use_threads() leaves them for torch's
    OpenMP to read."""
    import os
    import subprocess
    import sys

    code = "import os; from camseg_cli.core.cpus import use_threads; use_threads(None); "
    code += "print(os.environ.get('OMP_WAIT_POLICY', '-'), os.environ.get('GOMP_SPINCOUNT', '-'))"
    clean = {k: v for k, v in os.environ.items() if k not in (cpus.WAIT_POLICY, cpus.SPIN_COUNT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    policy, spins = done.stdout.split()
    return policy, spins


def test_openmp_threads_spin_briefly_then_sleep_unless_the_user_chose_how_they_wait():
    assert _wait_after({}) == ("PASSIVE", "1000")
    assert _wait_after({"OMP_NUM_THREADS": "1"}) == ("PASSIVE", "1000")  # a user's count keeps the default
    # A user's policy or spin count is kept whole: 1000 turns would cut ACTIVE's spinning short.
    assert _wait_after({cpus.WAIT_POLICY: "ACTIVE"}) == ("ACTIVE", "-")
    assert _wait_after({cpus.WAIT_POLICY: "PASSIVE"}) == ("PASSIVE", "-")
    assert _wait_after({cpus.SPIN_COUNT: "50"}) == ("-", "50")


def test_opencv_takes_the_thread_count_unless_the_user_set_its_own():
    assert _cv2_threads_after("1", {}) == 1
    assert _cv2_threads_after(None, {"OMP_NUM_THREADS": "1"}) == 1  # the user's OpenMP count, OpenCV too
    assert _cv2_threads_after(None, {"OMP_NUM_THREADS": "1", cpus.OPENCV_THREADS: "3"}) == 3  # kept
    assert _cv2_threads_after("2", {cpus.OPENCV_THREADS: "3"}) == 2  # --threads is the more specific


def test_helper_pools_take_no_more_than_the_compute_threads(four, monkeypatch):
    """The decoding, checking and rendering pools were sized from os.cpu_count(): the whole machine, even
    under --threads 1, a quota or a taskset mask."""
    from camseg_cli.core.data.classes.maps import preset
    from camseg_cli.core.data.loading import cache
    from camseg_cli.core.data.sources import validate

    for name in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cpus, "cgroup_cpus", lambda path=None: None)
    monkeypatch.setattr(cpus, "_given", None)
    sizes: list[int] = []

    class Recording(cache.ThreadPoolExecutor):
        def __init__(self, workers: int):
            sizes.append(workers)
            super().__init__(workers)

    monkeypatch.setattr(cache, "ThreadPoolExecutor", Recording)
    monkeypatch.setattr(validate, "ThreadPoolExecutor", Recording)

    def pools() -> list[int]:
        sizes.clear()
        list(cache._decoded([], preset("camvid11")))
        validate.check_samples([], preset("camvid11"))
        return list(sizes)

    assert pools() == [4, 4]  # four usable CPUs: the cache's cap of 4, the checker's 8 cut to 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert pools() == [1, 1]  # the user's count
    monkeypatch.delenv("OMP_NUM_THREADS")
    import torch

    before = torch.get_num_threads()
    cpus.use_threads("2")  # torch is loaded here: applied directly, and remembered for the pools
    try:
        assert pools() == [2, 2]
        assert cpus.pool_size(1) == 1
    finally:
        torch.set_num_threads(before)
