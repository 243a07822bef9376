"""camseg train on CPU with synthetic scenes: it learns, checkpoints are plain data, resume is exact,
Ctrl-C exits 130, NaN stops the run, sweeps and torchrun (gloo) work. Tiny sizes keep this to minutes."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.loading.tensors import EvalTransform, collate_eval
from camseg_cli.core.data.sources.layouts import SegDataset, open_dataset
from camseg_cli.core.data.sources.samples import read_sample
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.loop import evaluate_loader
from camseg_cli.core.evaluation.scoring.metrics import scores_from_matrix
from camseg_cli.core.model.checkpoint import load_checkpoint, model_from_checkpoint
from camseg_cli.core.model.inference import ModelInput, inference_channels_last, inference_model
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.engine import EpochState, Trainer, TrainEvents
from camseg_cli.core.train.optim import SegLoss, WarmupDecay
from camseg_cli.core.train.resume import resume_config
from camseg_cli.core.train.run import TrainingInterrupted, _Run, fit
from camseg_cli.core.train.runstate import COLUMNS
from camseg_cli.core.train.sweep import study_configs
from camseg_cli.progress import TrainProgress

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
ARCH = "mobilenet_v3_large"
# The learning run: 14 training images of 64x96, 4 epochs of 4 batches, from scratch.
LEARN = dict(arch=ARCH, weights="none", epochs=4, batch_size=4, size=(64, 96), lr=3e-3, workers=0)
# Mechanics runs (resume, Ctrl-C, NaN, sweep, DDP) only need to run, not to learn: 8 images of 48x64.
MECH = dict(LEARN, epochs=2, size=(48, 64), batch_size=2)  # four steps per epoch
TINY = ["--arch", ARCH, "--weights", "none", "--batch-size", "4", "--size", "48x64", "--workers", "0"]
RUN = f"{ARCH}-none"


def cli_args(config: dict) -> list[str]:
    h, w = config["size"]
    return [
        *("--arch", config["arch"], "--weights", config["weights"], "--epochs", str(config["epochs"])),
        *("--batch-size", str(config["batch_size"]), "--size", f"{h}x{w}", "--lr", str(config["lr"])),
        *("--workers", str(config["workers"])),
    ]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core CI box OpenMP's spinning
    threads make each step 10-30x slower; one thread keeps the timings steady."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("synthetic") / "scenes", images=24, size=(72, 96), seed=0)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """8 train, 3 val, 3 test images: two batches of 4 per epoch."""
    return write_dataset(tmp_path_factory.mktemp("small") / "scenes", images=14, size=(48, 64), seed=1)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    """One CLI run, shared by the tests that read what it wrote."""
    out = tmp_path_factory.mktemp("out")
    result = runner.invoke(
        app, ["train", "--data", str(data), "--out", str(out), *cli_args(LEARN), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return out


def majority_miou(data: Path) -> float:
    """mIoU of predicting the most frequent training class everywhere, computed with numpy alone."""
    info = open_dataset(data)
    n, void = info.classes.num_classes, info.classes.void
    counts = sum(
        np.bincount(read_sample(r, info.classes)[1].ravel(), minlength=n) for r in info.samples("train")
    )
    counts[void] = 0
    guess = int(np.argmax(counts))
    masks = np.concatenate([read_sample(r, info.classes)[1].ravel() for r in info.samples("val")])
    masks = masks[masks != void]
    present = np.unique(masks)
    ious = [((masks == guess) & (c == guess)).sum() / ((masks == c) | (c == guess)).sum() for c in present]
    return float(np.mean(ious))


def evaluate_single_process(ckpt: dict, data: Path, batch_size: int = 3) -> torch.Tensor:
    """The validation split scored the way `camseg evaluate` does it, in this one process."""
    info = open_dataset(data)
    cpu = torch.device("cpu")
    model = inference_model(model_from_checkpoint(ckpt), cpu)
    ds = SegDataset(info.samples("val"), info.classes, EvalTransform(ckpt["image_size"]))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, collate_fn=collate_eval)
    to_input = ModelInput(ckpt["normalization"], cpu, inference_channels_last(cpu))
    classes = info.classes
    return evaluate_loader(model, loader, classes.num_classes, classes.ignore_index, to_input).mat


# ------------------------------------------------------------------------------------ unit level


def test_loss_matches_cross_entropy_and_survives_an_all_void_batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 6, 7)
    target = torch.randint(0, 5, (2, 6, 7))
    target[0, :2] = 4  # void
    weight = np.array([1.0, 2.0, 0.5, 3.0, 0.0])
    for w in (None, weight):
        loss = SegLoss(4, w)({"out": logits}, target)
        expected = F.cross_entropy(
            logits, target, weight=None if w is None else torch.tensor(w, dtype=torch.float32), ignore_index=4
        )
        assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    aux = torch.randn(2, 5, 6, 7)
    both = SegLoss(4)({"out": logits, "aux": aux}, target)
    assert float(both) == pytest.approx(
        float(SegLoss(4)({"out": logits}, target) + 0.5 * SegLoss(4)({"out": aux}, target))
    )
    assert float(SegLoss(4)({"out": logits}, torch.full_like(target, 4))) == 0.0


def test_data_wait_counts_time_in_the_loader_not_in_the_step():
    def slow_loader(n: int):
        for i in range(n):
            time.sleep(0.05)  # a loader that makes the step wait
            yield i

    state = EpochState()
    assert list(Trainer._timed(slow_loader(4), state)) == [0, 1, 2, 3]
    assert state.data_seconds >= 4 * 0.05
    fast = EpochState()
    for _ in Trainer._timed(range(3), fast):
        time.sleep(0.2)  # the step's own work is not waiting for data
    assert fast.data_seconds < 0.2
    fast.seconds = 0.6
    assert fast.data_wait == pytest.approx(fast.data_seconds / 0.6)
    assert math.isnan(EpochState().data_wait)


@pytest.mark.parametrize("kind", ["poly", "cosine"])
def test_schedule_warms_up_then_decays_to_zero(kind):
    f = WarmupDecay(total=100, warmup=10, kind=kind)
    assert f(0) == pytest.approx(0.01)
    assert f(5) < f(10) == pytest.approx(1.0)
    values = [f(t) for t in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert f(100) == pytest.approx(0.0, abs=1e-9)


def test_config_checks_and_sweep_names():
    c = TrainConfig(data="d", arch=ARCH, aug="none,flip,crop+jitter")
    assert [x.run_name for x in study_configs(c, sweep=True)] == [
        f"{ARCH}-none",
        f"{ARCH}-flip",
        f"{ARCH}-crop+jitter",
    ]
    assert TrainConfig(data="d", aug="jitter,flip").run_name == "resnet50-flip+jitter"
    assert TrainConfig.from_dict(c.to_dict()) == c
    for bad, match in (
        ({"batch_size": 1}, "at least 2"),
        ({"aug": "fisheye"}, "unknown augmentation"),
        ({"optimizer": "sgd"}, "--optimizer"),
        ({"run": "a/b"}, "slashes"),
    ):
        with pytest.raises(CamsegError, match=match):
            TrainConfig(data="d", **bad)


# ------------------------------------------------------------------------------------ CLI errors


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "pass --data DIR"),
        (["--data", "{data}", "--batch-size", "1"], "at least 2"),
        (["--data", "{data}", "--size", "64by96"], "HEIGHTxWIDTH"),
        (["--data", "{data}", "--aug", "flip,fisheye"], "unknown augmentation 'fisheye'"),
        (["--resume", "--run", "nothing-here"], "no resume state"),
    ],
)
def test_cli_errors_are_one_line(args, message, data, tmp_path):
    args = [a.replace("{data}", str(data)) for a in args]
    result = runner.invoke(app, ["train", "--out", str(tmp_path), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_suggests_cpu(data, tmp_path):
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 1 and "--device cpu" in result.output


# ------------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_training_lowers_the_loss_and_beats_chance(trained, data):
    history = pd.read_csv(trained / "runs" / RUN / "metrics.csv")
    assert list(history.columns) == list(COLUMNS)
    assert history.epoch.tolist() == [1, 2, 3, 4]
    assert history.train_loss.iloc[-1] < 0.6 * history.train_loss.iloc[0]
    chance = majority_miou(data)
    assert history.val_miou.max() > 2.5 * chance, (history.val_miou.max(), chance)
    assert (history.images_per_s > 0).all() and (history.seconds > 0).all()
    assert history.data_wait.between(0, 1).all()  # a share of the epoch's training time
    assert history.peak_mem_gib.isna().all()  # measured on CUDA only


@pytest.mark.slow
def test_checkpoint_is_plain_data_and_its_metrics_are_reproducible(trained, data):
    raw = torch.load(trained / f"{RUN}.pt", weights_only=True)
    keys = "format version model arch classes image_size aug normalization epoch history metrics config seed"
    for key in (*keys.split(), "versions", "run", "data", "layout", "aux_loss", "train_seconds"):
        assert key in raw, key
    history = pd.read_csv(trained / "runs" / RUN / "metrics.csv")
    assert raw["arch"] == ARCH and raw["aug"] == "none" and raw["run"] == RUN and raw["layout"] == "rgb"
    assert raw["image_size"] == [64, 96] and raw["data"] == str(data.resolve())
    assert raw["classes"]["names"] == list(open_dataset(data).classes.names)
    assert [r["epoch"] for r in raw["history"]] == [1, 2, 3, 4]
    assert raw["epoch"] == int(history.epoch[history.val_miou.idxmax()])
    assert raw["metrics"]["miou"] == pytest.approx(history.val_miou.max())
    assert raw["config"]["lr"] == LEARN["lr"] and raw["config"]["size"] == [64, 96]
    mat = torch.tensor(raw["metrics"]["confusion"])
    assert scores_from_matrix(mat, raw["classes"]["void"]).miou == pytest.approx(raw["metrics"]["miou"])
    # the evaluate path, run separately on the saved weights, gives the very same confusion matrix
    assert torch.equal(evaluate_single_process(load_checkpoint(trained / f"{RUN}.pt"), data), mat)
    last = torch.load(trained / "runs" / RUN / "last.pt", weights_only=True)
    assert last["epoch"] == 4 and {"optimizer", "scheduler", "scaler", "rng", "progress"} <= set(
        last["resume"]
    )
    assert (trained / "runs" / RUN / "curves.png").stat().st_size > 1000
    assert (trained / "runs" / RUN / "config.json").is_file()


class StopAt(TrainEvents):
    """Presses Ctrl-C (raises KeyboardInterrupt) right after a given optimizer step."""

    def __init__(self, epoch: int, batch: int):
        self.at = (epoch, batch)

    def step(self, epoch, batch, batches, loss, images_per_s, lr):
        if (epoch, batch) == self.at:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_resume_mid_epoch_continues_exactly(small, tmp_path):
    whole = fit(TrainConfig(data=str(small), out=str(tmp_path / "whole"), **MECH))
    config = TrainConfig(data=str(small), out=str(tmp_path / "cut"), **MECH)
    with pytest.raises(TrainingInterrupted) as stop:
        fit(config, StopAt(epoch=1, batch=1))  # reported once step 2 is under way: stops after 2 of 4
    assert "--resume" in stop.value.hint and RUN in stop.value.hint
    last = torch.load(config.last_path, weights_only=True)
    assert last["epoch"] == 1 and last["resume"]["progress"]["epoch_state"]["batches_done"] == 2
    resumed = fit(resume_config(config.out, RUN), resume=True)
    assert resumed.epochs == 2 and [r["epoch"] for r in resumed.history] == [1, 2]
    for col in ("train_loss", "val_loss", "val_miou", "lr"):
        got, want = [r[col] for r in resumed.history], [r[col] for r in whole.history]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=col)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < end, "no last.pt in time"
        time.sleep(0.05)


@pytest.mark.slow
def test_ctrl_c_saves_state_exits_130_and_resume_finishes(small, tmp_path):
    out = tmp_path / "out"
    args = ["train", "--data", str(small), "--out", str(out), *TINY, "--epochs", "4", "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "camseg_cli", *args],
        cwd=ROOT,
        env=ONE_THREAD,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(out / "runs" / RUN / "last.pt", proc, timeout=240)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"resume with: camseg train --resume --out {out} --run {RUN}" in err
    assert torch.load(out / "runs" / RUN / "last.pt", weights_only=True)["resume"]
    result = runner.invoke(app, ["train", "--resume", "--out", str(out), "--run", RUN, "--quiet"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "runs" / RUN / "metrics.csv").epoch.tolist() == [1, 2, 3, 4]
    assert [r["epoch"] for r in torch.load(out / f"{RUN}.pt", weights_only=True)["history"]] == [1, 2, 3, 4]


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_state(small, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = SegLoss.forward

    def poisoned(self, outputs, target):
        calls["n"] += 1
        loss = real(self, outputs, target)
        return loss * float("nan") if calls["n"] > 4 else loss  # epoch 1 has 4 batches

    monkeypatch.setattr(SegLoss, "forward", poisoned)
    config = TrainConfig(data=str(small), out=str(tmp_path), **MECH)
    with pytest.raises(CamsegError, match=r"loss is nan at epoch 2, batch 1/4 .* last good state .*epoch 1"):
        fit(config)
    last = torch.load(tmp_path / "runs" / RUN / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and all(math.isfinite(float(v.float().sum())) for v in last["model"].values())


@pytest.mark.slow
def test_sweep_trains_one_run_per_preset_with_everything_else_equal(small, tmp_path):
    args = ["train", "--data", str(small), "--out", str(tmp_path), *TINY, "--epochs", "1", "--quiet"]
    result = runner.invoke(app, [*args, "--sweep", "--aug", "none,flip+jitter"])
    assert result.exit_code == 0, result.output
    a = torch.load(tmp_path / f"{ARCH}-none.pt", weights_only=True)
    b = torch.load(tmp_path / f"{ARCH}-flip+jitter.pt", weights_only=True)
    assert (a["aug"], b["aug"]) == ("none", "flip+jitter")
    same = {k: v for k, v in a["config"].items() if k not in ("aug", "run")}
    assert same == {k: v for k, v in b["config"].items() if k not in ("aug", "run")}
    assert "flip+jitter" in result.output


def _torchrun() -> list[str]:
    exe = Path(sys.executable).parent / "torchrun"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow
def test_torchrun_two_processes_gloo_matches_single_process_evaluation(small, tmp_path):
    args = ["train", "--data", str(small), "--out", str(tmp_path), *TINY, "--epochs", "2", "--device", "cpu"]
    launch = [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "camseg_cli"]
    cmd = [*launch, *args, "--batch-size", "2"]  # 4 images per process: two batches of 2
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / f"{RUN}.pt")
    assert [r["epoch"] for r in ckpt["history"]] == [1, 2]
    recorded = torch.tensor(ckpt["metrics"]["confusion"])
    assert int(recorded.sum()) > 0
    assert torch.equal(evaluate_single_process(ckpt, small, batch_size=2), recorded)
    assert proc.stdout.count("training runs") == 1  # only rank 0 reports


# ------------------------------------------------------------------------------------ CUDA only

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_amp_channels_last_pinned_workers(precision, data, tmp_path, monkeypatch):
    if precision == "fp16":  # the GradScaler path, as on GPUs without bf16
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    config = TrainConfig(data=str(data), out=str(tmp_path), **{**LEARN, "workers": 2, "device": "cuda"})
    result = fit(config)
    assert all(math.isfinite(r["train_loss"]) for r in result.history)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    card_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    assert all(0 < r["peak_mem_gib"] < card_gib for r in result.history)
    last = torch.load(config.last_path, weights_only=True)
    assert bool(last["resume"]["scaler"]) == (precision == "fp16")  # a disabled scaler has empty state
    ckpt = load_checkpoint(config.best_path)
    recorded = torch.tensor(ckpt["metrics"]["confusion"])
    # the recorded matrix came from bf16/fp16 on the GPU; fp32 on the CPU may flip a few boundary pixels
    fp32 = evaluate_single_process(ckpt, data)
    assert (fp32 - recorded).abs().sum() <= 0.01 * recorded.sum()


@pytest.mark.gpu
@needs_cuda
def test_cuda_compile_runs(small, tmp_path):
    config = TrainConfig(data=str(small), out=str(tmp_path), **{**MECH, "device": "cuda", "compile": True})
    result = fit(config)
    assert result.epochs == 2 and all(math.isfinite(r["train_loss"]) for r in result.history)


@pytest.mark.slow
def test_patience_stops_early_and_keeps_the_best_epoch(small, tmp_path, monkeypatch):
    from camseg_cli.core.train.engine import Trainer

    real = Trainer.validate
    mious = iter([0.5, 0.4, 0.3, 0.2, 0.1])

    def worsening(self, *a, **k):
        val = real(self, *a, **k)
        return dataclasses.replace(val, scores=dataclasses.replace(val.scores, miou=next(mious)))

    monkeypatch.setattr(Trainer, "validate", worsening)
    config = TrainConfig(data=str(small), out=str(tmp_path), **{**MECH, "epochs": 5, "patience": 2})
    result = fit(config)
    assert result.stopped_early and result.epochs == 3 and result.best_epoch == 1
    best = torch.load(config.best_path, weights_only=True)
    assert best["epoch"] == 1 and best["epochs"] == 3 and best["metrics"]["miou"] == 0.5
    assert fit(config, resume=True).epochs == 3  # a finished run stays finished


def test_a_starved_gpu_gets_one_hint_naming_the_remedies():
    notes: list[str] = []
    events = TrainEvents()
    events.note = notes.append
    run = types.SimpleNamespace(
        config=TrainConfig(data="d", epochs=3, workers=2),
        d=types.SimpleNamespace(device=torch.device("cuda")),
        events=events,
        _hinted=False,
    )

    def epoch(n: int, wait: float, device: str = "cuda") -> None:
        run.d.device = torch.device(device)
        _Run._starved_hint(run, {"epoch": n, "data_wait": wait})

    epoch(1, 0.9)  # the first epoch includes starting the workers
    epoch(2, 0.9, "cpu")  # on CPU loading is the work itself, not starvation
    epoch(2, 0.05)
    assert notes == []
    epoch(2, 0.4)
    epoch(3, 0.5)
    assert notes == [
        "the GPU waited for data 40% of epoch 2: more --workers (now 2) or --cache ram would feed it faster"
    ]


def test_epoch_line_shows_the_data_wait_and_gpu_memory_when_measured(capsys):
    p = TrainProgress(quiet=True)  # not a terminal: plain lines on stderr
    p.epochs = 3
    row = {"epoch": 2, "train_loss": 1.0, "val_loss": 1.1, "val_miou": 0.25, "val_pixel_acc": 0.5,
           "images_per_s": 12.0, "data_wait": 0.034, "peak_mem_gib": 11.26, "seconds": 9.0}  # fmt: skip
    p.epoch_ended(row, 0.25, 2)
    p.epoch_ended({**row, "peak_mem_gib": float("nan")}, 0.25, 2)
    gpu, cpu = capsys.readouterr().err.strip().splitlines()
    assert "12.0 img/s  data wait 3%  mem 11.3 GiB  9.0s" in gpu
    assert "12.0 img/s  data wait 3%  9.0s" in cpu and "mem" not in cpu


def test_a_step_the_fp16_grad_scaler_skips_does_not_advance_the_schedule():
    from camseg_cli.core.train.engine import optimizer_step

    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)  # the CUDA fp16 scaler's logic, on CPU
    x = torch.ones(2, 3)
    scaler.scale(model(x).sum()).backward()
    assert optimizer_step(opt, scaler, sched) and sched.last_epoch == 1
    before = [p.detach().clone() for p in model.parameters()]
    scaler.scale(model(x).sum() * float("inf")).backward()  # inf gradients: the scaler skips this step
    assert not optimizer_step(opt, scaler, sched)
    assert sched.last_epoch == 1 and opt.param_groups[0]["lr"] == pytest.approx(0.1 / 2)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    disabled = torch.amp.GradScaler("cpu", enabled=False)  # CPU / bf16 runs: every step counts
    scaler_free = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    model(x).sum().backward()
    assert optimizer_step(opt, disabled, scaler_free) and scaler_free.last_epoch == 1


@pytest.mark.parametrize("aux", [False, True])
def test_curves_say_the_two_losses_are_not_alike(aux):
    from camseg_cli.core.train.runstate import curves_figure

    history = [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "val_miou": 0.1, "val_pixel_acc": 0.5}]
    fig = curves_figure(history, "run", aux_loss=aux)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert ("aux head" in labels[0]) == aux and "training size" in labels[0]
    assert "main head" in labels[1] and "label size" in labels[1]
