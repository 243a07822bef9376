"""TensorBoard logs and config files (issue 16): what TensorBoard reads back equals metrics.csv, images
are logged every epoch, a resumed run repeats no step; a run re-runs exactly from its config.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.train.config_file import read_config_file

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

runner = CliRunner()
ARCH = "mobilenet_v3_large"
RUN = f"{ARCH}-none"
TINY = ["--arch", ARCH, "--weights", "none", "--size", "32x48", "--batch-size", "2", "--workers", "0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("tb") / "data", "rgb", images=8, size=(32, 48), seed=0)


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def logged(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tbrun") / "out"
    args = ["train", "--data", str(data), "--out", str(out), *TINY, "--epochs", "2", "--log", "tensorboard"]
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_scalars_read_back_from_the_event_files_equal_metrics_csv(logged):
    run_dir = logged / "runs" / RUN
    metrics = pd.read_csv(run_dir / "metrics.csv")
    acc = events(run_dir)
    pairs = {"val_miou": "val/mIoU", "val_loss": "val/loss", "val_pixel_acc": "val/pixel_acc"}
    pairs |= {"train_loss": "train/epoch_loss", "images_per_s": "speed/images_per_s"}
    for column, tag in pairs.items():
        got = [e.value for e in acc.Scalars(tag)]
        assert got == pytest.approx(list(metrics[column]), rel=1e-6), tag
    steps = [e.step for e in acc.Scalars("train/loss")]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) == 2 * 2  # 4 images / batch 2, 2 epochs
    assert [e.step for e in acc.Scalars("val/mIoU")] == [2, 4]  # at the epoch's last step
    assert any(t.startswith("val_iou/") for t in acc.Tags()["scalars"])
    lr = [e.value for e in acc.Scalars("train/lr")]
    assert lr[-1] == pytest.approx(metrics["lr"].iloc[-1])


@pytest.mark.slow
def test_the_same_validation_images_are_logged_every_epoch(logged):
    acc = events(logged / "runs" / RUN)
    tags = acc.Tags()["images"]
    assert len(tags) == 2  # the two val images of this dataset
    for tag in tags:
        images = acc.Images(tag)
        assert [i.step for i in images] == [2, 4]
        assert images[0].width == 3 * 48 and images[0].height == 32  # image | ground truth | prediction


@pytest.mark.slow
def test_hparams_are_written_once_with_the_best_val_miou(logged):
    hp = logged / "runs" / RUN / "tb" / "hparams"
    acc = EventAccumulator(str(hp))
    acc.Reload()
    best = torch.load(logged / f"{RUN}.pt", weights_only=True)["metrics"]["miou"]
    assert acc.Scalars("hparam/best_val_mIoU")[0].value == pytest.approx(best)


@pytest.mark.slow
def test_a_resumed_run_appends_without_duplicate_steps(logged, data, tmp_path):
    out = Path(shutil.copytree(logged, tmp_path / "out"))
    args = ["train", "--data", str(data), "--out", str(out), *TINY, "--log", "tensorboard", "--quiet"]
    result = runner.invoke(app, [*args, "--resume", "--epochs", "3"])
    assert result.exit_code == 0, result.output
    acc = events(out / "runs" / RUN)
    steps = [e.step for e in acc.Scalars("train/loss")]
    assert steps == sorted(set(steps)) == list(range(1, 7))
    assert [e.step for e in acc.Scalars("val/mIoU")] == [2, 4, 6]


def test_without_tensorboard_installed_the_error_names_the_extra(data, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *a, **k):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    args = [
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path),
        *TINY,
        "--epochs",
        "1",
        "--log",
        "tensorboard",
    ]
    result = runner.invoke(app, args)
    assert (
        result.exit_code == 1 and "camseg[tensorboard]" in result.stderr and "Traceback" not in result.output
    )


# ------------------------------------------------------------------------------------------ config


@pytest.mark.slow
def test_config_json_round_trip_re_runs_the_run_exactly(data, tmp_path):
    first = tmp_path / "a"
    args = [
        "train",
        "--data",
        str(data),
        "--out",
        str(first),
        *TINY,
        "--epochs",
        "1",
        "--deterministic",
        "--quiet",
    ]
    assert runner.invoke(app, args).exit_code == 0
    saved = first / "runs" / RUN / "config.json"
    second = tmp_path / "b"
    again = runner.invoke(app, ["train", "--config", str(saved), "--out", str(second), "--quiet"])
    assert again.exit_code == 0, again.output
    a, b = json.loads(saved.read_text()), json.loads((second / "runs" / RUN / "config.json").read_text())
    assert {**a, "out": None} == {**b, "out": None}
    wa = torch.load(first / f"{RUN}.pt", weights_only=True)["model"]
    wb = torch.load(second / f"{RUN}.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_flags_override_the_file_and_a_study_file_sweeps_augs_and_seeds(data, tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text(
        f"data: {data}\narch: {ARCH}\nweights: none\nsize: 32x48\nbatch_size: 2\nworkers: 0\n"
        "epochs: 3\naug: [none, flip]\nseeds: [0, 1]\n"
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["train", "--config", str(study), "--out", str(out), "--epochs", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.stem for p in out.glob("*.pt"))
    assert names == sorted(f"{ARCH}-{a}-s{s}" for a in ("none", "flip") for s in (0, 1))
    saved = json.loads((out / "runs" / f"{ARCH}-flip-s1" / "config.json").read_text())
    assert saved["epochs"] == 1 and saved["seed"] == 1 and saved["aug"] == "flip"  # the flag won over 3


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("epohcs = 3\n", "unknown key 'epohcs'"),
        ('epochs = "three"\n', "epochs must be a whole number, not 'three'"),
        ("lr = true\n", "lr must be a number"),
        ("size = [1, 2, 3]\n", "size must be [height, width]"),
        ('seeds = ["a"]\n', "seeds must be a list of whole numbers"),
        ("epochs = \n", "not valid TOML"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors_naming_the_key_and_the_file(text, fragment, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(CamsegError) as e:
        read_config_file(path)
    assert str(path) in str(e.value) and fragment in str(e.value)
    result = runner.invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 1 and fragment in result.stderr and "Traceback" not in result.output


def test_the_shipped_study_file_is_the_original_study_with_three_seeds():
    settings = read_config_file(Path(__file__).resolve().parents[1] / "examples" / "study.toml")
    assert settings["aug"] == ["none", "flip", "crop", "perspective", "jitter", "all"]
    assert settings["seeds"] == [0, 1, 2]


@pytest.mark.slow
def test_an_interrupted_and_resumed_run_logs_every_step_once(tmp_path):
    import signal

    from camseg_cli.core.train.config import TrainConfig
    from camseg_cli.core.train.engine import TrainEvents
    from camseg_cli.core.train.resume import resume_config
    from camseg_cli.core.train.run import TrainingInterrupted, fit

    class SigintAt(TrainEvents):
        def step(self, epoch, batch, batches, loss, images_per_s, lr):
            if (epoch, batch) == (1, 1):
                signal.raise_signal(signal.SIGINT)

    root = write_dataset(tmp_path / "d", "rgb", images=16, size=(32, 48), seed=1)  # steps after the SIGINT
    cfg = TrainConfig(data=str(root), out=str(tmp_path / "o"), arch=ARCH, weights="none", size=(32, 48),
                      batch_size=2, epochs=2, lr=1e-3, workers=0, log="tensorboard")  # fmt: skip
    with pytest.raises(TrainingInterrupted):
        fit(cfg, SigintAt())
    fit(resume_config(cfg.out, RUN), resume=True)
    acc = events(Path(cfg.out) / "runs" / RUN)
    steps = [e.step for e in acc.Scalars("train/loss")]
    per_epoch = len(steps) // 2
    assert per_epoch > 2 and steps == list(range(1, 2 * per_epoch + 1))  # every step of 2 epochs, once
    assert [e.step for e in acc.Scalars("val/mIoU")] == [per_epoch, 2 * per_epoch]
