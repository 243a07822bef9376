"""The newcomer's second hour (issue 26, section 2): resumes that work from anywhere, mistakes answered
before torch loads, a comparison of one, disk costs, and the small things a first session trips on."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.evaluation.compare.arms import group_arms
from camseg_cli.core.model.checkpoint import build_model
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.run import TrainingInterrupted
from camseg_cli.core.train.runstate import curves_figure
from tests.test_cli import _probe

runner = CliRunner()
ARCH = "mobilenet_v3_large"
RUN = f"{ARCH}-none"
TINY = ["--arch", ARCH, "--size", "32x48", "--batch-size", "2", "--epochs", "1", "--quiet"]
FAST = ["--weights", "none", "--workers", "0"]
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("sh") / "data", "rgb", images=8, size=(32, 48), seed=0)


def train(data: Path | str, out: Path | str, *extra: str):
    return runner.invoke(app, ["train", "--data", str(data), "--out", str(out), *TINY, *FAST, *extra])


def _config(out: Path, run: str = RUN) -> dict:
    return json.loads((out / "runs" / run / "config.json").read_text())


def _words(text: str) -> str:
    return " ".join(text.replace("│", " ").split())  # Rich wraps and boxes long lines


# ---------------------------------------------------------------------------------- resume from anywhere


@pytest.mark.slow
def test_the_data_folder_is_stored_absolute_and_the_resume_hint_works_from_another_folder(
    data, tmp_path, monkeypatch
):
    monkeypatch.chdir(data.parent)
    assert train("data", "out").exit_code == 0
    out = data.parent / "out"
    assert _config(out)["data"] == str(data.resolve())
    saved = torch.load(out / f"{RUN}.pt", weights_only=True)
    assert saved["config"]["data"] == str(data.resolve())

    # an older run stored the path as typed: the hint still names absolute folders
    hint = TrainingInterrupted(TrainConfig(data="data", out="out", arch=ARCH), 1, 0).hint
    args = shlex.split(hint)
    assert args[args.index("--data") + 1] == str(data.resolve())
    assert args[args.index("--out") + 1] == str(out.resolve())

    hint = TrainingInterrupted(TrainConfig.from_dict(_config(out)), 1, 0).hint  # as Ctrl-C prints it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = runner.invoke(app, shlex.split(hint)[1:] + ["--epochs", "2", "--quiet"])
    assert again.exit_code == 0, again.output
    assert len((out / "runs" / RUN / "metrics.csv").read_text().strip().splitlines()) == 1 + 2


def test_a_studys_resume_hint_names_absolute_folders(monkeypatch, tmp_path):
    from camseg_cli.commands.train import _sweep_hint

    monkeypatch.chdir(tmp_path)
    argv = ["camseg", "train", "-d", "data", "--out=out", "--aug", "none,flip", "--sweep", "--resume"]
    monkeypatch.setattr("sys.argv", argv)
    args = shlex.split(_sweep_hint())
    assert args[args.index("-d") + 1] == str(tmp_path / "data") and f"--out={tmp_path / 'out'}" in args
    assert args.count("--resume") == 1 and "none,flip" in args


@pytest.mark.slow
def test_a_run_saved_with_a_relative_data_path_still_resumes_and_pairs_with_new_runs(data, tmp_path):
    out = tmp_path / "out"
    assert train(data, out).exit_code == 0
    last_path = out / "runs" / RUN / "last.pt"
    last = torch.load(last_path, weights_only=True)
    last["config"]["data"] = "../camvid"  # as camseg wrote it before
    torch.save(last, last_path)
    longer = train(data, out, "--resume", "--epochs", "2")  # --data given now: a runtime setting
    assert longer.exit_code == 0, longer.output

    def run(seed: int, data_path: str, aug: str = "none") -> SimpleNamespace:
        config = {**TrainConfig(data=data_path, aug=aug, seed=seed).to_dict()}
        return SimpleNamespace(config=config, seed=seed, name=f"r{seed}", aug=aug, arch="x", epochs=1)

    arms = group_arms([run(0, "../camvid"), run(1, str(data.resolve())), run(0, "../camvid", "flip")])
    assert sorted((a.name, len(a.runs)) for a in arms) == [("flip", 1), ("none", 2)]


# ---------------------------------------------------------------------------------- cheap checks first

MISTAKES = [
    (["train", "--data", "{data}", "--aug", "flp"], "did you mean flip?"),
    (["train", "--data", "{data}", "--aug", "none,jiter", "--sweep"], "did you mean jitter?"),
    (["train", "--data", "{data}", "--arch", "resnet5"], "did you mean resnet50?"),
    (["train", "--data", "{data}", "--optimizer", "admw"], "did you mean adamw?"),
    (["train", "--data", "{data}", "--cache", "rma"], "did you mean ram?"),
    (["train", "--data", "{data}", "--schedule", "cosin"], "did you mean cosine?"),
    (["train", "--data", "{data}", "--weights", "imagenett"], "did you mean imagenet?"),
    (["train", "--data", "{data}", "--device", "cdua"], "did you mean cuda?"),
    (["train", "--data", "{data}", "--layout", "fastia"], "did you mean fastai?"),
    (["train", "--data", "{data}", "--class-weights", "medain"], "did you mean median?"),
    (["train", "--data", "{data}", "--log", "tensorbord"], "did you mean tensorboard?"),
    (["train", "--data", "{missing}"], "{missing}"),
    (["train", "--data", "{data}", "--out", "{file}"], "{file}"),
    (["train", "--config", "{config}"], "did you mean aug?"),
    (["evaluate", "{ckpt}", "--split", "tst"], "did you mean test?"),
    (["evaluate", "{missing}.pt"], "{missing}.pt"),
    (["evaluate", "{ckpt}", "--data", "{missing}"], "{missing}"),
    (["compare", "{ckpt}", "{ckpt2}", "--split", "vall"], "did you mean val?"),
    (["compare", "{ckpt}", "{ckpt2}", "--split-by", "sequnce"], "did you mean sequence?"),
    (["evaluate", "{ckpt}", "--cache", "dsk"], "did you mean disk?"),
    (["evaluate", "{ckpt}", "--slice", "drak"], "did you mean dark?"),
    (["predict", "{ckpt}", "{data}", "--save", "index,colr"], "did you mean color?"),
    (["export", "{ckpt}", "--format", "onx"], "did you mean onnx?"),
    (["augment-preview", "--data", "{data}", "--aug", "perspectiv"], "did you mean perspective?"),
    (["stats", "--data", "{missing}"], "{missing}"),
    (["stats", "--data", "{data}", "--split-by", "seqence"], "did you mean sequence?"),
    (["synth", "{tmp}/s", "--layout", "rbg"], "did you mean rgb?"),
    (["download", "camvid", "--variant", "fastia", "--dest", "{tmp}/d"], "did you mean fastai?"),
]


def test_mistakes_answer_before_the_heavy_libraries_load_and_suggest_the_nearest_name(tmp_path):
    ckpt, ckpt2, file = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "file"
    for p in (ckpt, ckpt2, file):
        p.write_bytes(b"not read")
    config = tmp_path / "study.toml"
    config.write_text(f'data = "{tmp_path}"\nagu = "flip"\n')
    names = {"data": tmp_path, "missing": tmp_path / "missing", "file": file, "config": config, "ckpt": ckpt,
             "ckpt2": ckpt2, "tmp": tmp_path}  # fmt: skip
    argvs = [[a.format(**names) for a in argv] for argv, _ in MISTAKES]
    for run, (_, expected) in zip(_probe(argvs), MISTAKES):
        said = _words(run["output"])
        assert run["code"] == 1, (run["argv"], said)
        assert expected.format(**names) in said, (run["argv"], said)
        assert said.startswith("error:") and "Traceback" not in said, (run["argv"], said)
        assert run["heavy"] == [], (run["argv"], run["heavy"])


# ---------------------------------------------------------------------------------- compare of one run


def test_compare_with_one_checkpoint_describes_it_and_says_how_to_make_a_baseline(tiny_study, tmp_path):
    out = tiny_study.copy(tmp_path).out  # one flip run of the session's study (tests/conftest.py)
    run = tiny_study.run("flip", 0)
    ckpt, config = out / f"{run}.pt", out / "runs" / run / "config.json"
    args = [str(ckpt), "--out", str(out), "--bootstrap", "50", "--samples", "0", "--device", "cpu"]
    scored = runner.invoke(app, ["evaluate", str(ckpt), "--out", str(tmp_path / "ev"), "--json", "-q"])
    miou = json.loads(scored.stdout)["miou"]
    result = runner.invoke(app, ["compare", *args, "-q"])
    said = _words(result.stdout)
    assert result.exit_code == 0, result.output
    assert f"mIoU {miou:.3f}" in said and "95% CI" in said, said
    assert "nothing to compare" in said and f"camseg train --config {config} --aug none" in said, said
    assert "Δ" not in said and not (out / "compare" / "report.md").exists()  # no empty columns
    as_json = json.loads(runner.invoke(app, ["compare", *args, "--json"]).stdout)
    assert any("nothing to compare" in n for n in as_json["notes"]) and len(as_json["runs"]) == 1
    made_up = tmp_path / "loose.pt"  # no config.json beside it: the general recipe
    made_up.write_bytes(ckpt.read_bytes())
    loose = _words(runner.invoke(app, ["compare", str(made_up), *args[1:], "-q"]).stdout)
    assert "--aug none" in loose and "--seeds" in loose, loose


# ---------------------------------------------------------------------------------- disk: --no-keep-last


@pytest.mark.slow
def test_no_keep_last_drops_the_resume_state_of_a_finished_run_and_extension_says_why_it_cannot(
    data, tmp_path
):
    out = tmp_path / "out"
    done = train(data, out, "--no-keep-last")
    assert done.exit_code == 0, done.output
    assert (out / f"{RUN}.pt").is_file() and not (out / "runs" / RUN / "last.pt").exists()
    assert (out / "runs" / RUN / "metrics.csv").is_file() and _config(out)["keep_last"] is False
    longer = train(data, out, "--resume", "--epochs", "2")
    assert longer.exit_code == 1
    assert "--no-keep-last" in longer.stderr and "cannot be extended" in longer.stderr, longer.output
    kept = train(data, tmp_path / "kept")
    assert kept.exit_code == 0 and (tmp_path / "kept" / "runs" / RUN / "last.pt").is_file()


def test_the_readme_states_checkpoint_sizes_that_match_the_files(data, tmp_path):
    docs = [README, *sorted((README.parent / "docs").glob("*.md"))]  # the README and the pages it links
    text = _words(" ".join(p.read_text(encoding="utf-8") for p in docs))
    assert "--no-keep-last" in text
    # the README's MobileNetV3 figures, against float32 weights (+ Adam's two moments in last.pt)
    params = sum(p.numel() for p in build_model(ARCH, 12, "none").parameters())
    best = re.search(r"(\d+) MB best checkpoint", text)
    last = re.search(r"(\d+) MB `last.pt`", text)
    assert best and last, "README/docs: say what a run keeps on disk"
    assert abs(int(best.group(1)) - 4 * params / 1e6) <= 2
    assert abs(int(last.group(1)) - 12 * params / 1e6) <= 6
    assert re.search(r"`\.venv` .*?\d+(\.\d+)? GB", text), "README/docs: the venv's measured size"


# ---------------------------------------------------------------------------------- the small things


def test_augment_preview_writes_into_out_like_every_command_and_output_still_works(data, tmp_path):
    base = ["augment-preview", "--data", str(data), "--aug", "none", "--size", "32x48", "-n", "1"]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "augment-preview.png").is_file()
    old = runner.invoke(app, [*base, "--output", str(tmp_path / "x.png")])
    assert old.exit_code == 0 and (tmp_path / "x.png").is_file(), old.output
    assert "--out" in old.stderr  # says what to use instead
    assert "--output" not in runner.invoke(app, ["augment-preview", "--help"]).stdout


def test_train_help_names_every_layout_it_reads():
    text = _words(runner.invoke(app, ["train", "--help"]).stdout)
    data_help = text[text.index("--data") : text.index("--layout")]
    assert "original" in data_help


def test_predict_counts_every_file_it_writes_legend_included(tiny_study, tmp_path):
    ckpt, images = tiny_study.checkpoint("none", 0), tiny_study.data / "test"
    result = runner.invoke(app, ["predict", str(ckpt), str(images), "--out", str(tmp_path / "p"), "-q"])
    assert result.exit_code == 0, result.output
    written = [p for p in (tmp_path / "p").rglob("*") if p.is_file()]
    assert (tmp_path / "p" / "legend.png") in written
    assert f"({len(written)} files)" in result.stdout


def test_stats_counts_the_classes_without_void_and_leaves_void_out_of_the_weight_table(tmp_path):
    root = write_dataset(tmp_path / "d", "index", images=6, size=(32, 48), seed=0, classes="camvid11")
    result = runner.invoke(app, ["stats", "--data", str(root), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    said = _words(result.stdout)
    assert "11 classes + void" in said and "12 classes" not in said
    weights = result.stdout[result.stdout.index("class weights") :]
    weights = weights[: weights.index("wrote")]
    assert "Void" not in weights and "Sky" in weights and "Bicyclist" in weights


def test_curves_call_the_training_loss_augmented_only_when_it_was():
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "val_miou": 0.1, "val_pixel_acc": 0.5}]

    def labels(**kw) -> list[str]:
        fig = curves_figure(history, "t", **kw)
        return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]

    assert not any("augmented" in s for s in labels(augmented=False))
    assert any("augmented" in s for s in labels(augmented=True))


def test_a_failed_download_removes_the_folders_it_created(tmp_path):
    dest = tmp_path / "new" / "data"
    (tmp_path / "kept").mkdir()
    for where in (dest, tmp_path / "kept"):
        result = runner.invoke(
            app, ["download", "camvid", "--dest", str(where), "--url", "http://127.0.0.1:9/x.tgz",
                  "--timeout", "2", "-q"],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
    assert not (tmp_path / "new").exists()
    assert (tmp_path / "kept").is_dir()  # not created by camseg: left alone


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_on_a_missing_gpu_fails_before_writing_anything(data, tmp_path):
    result = train(data, tmp_path / "out", "--device", "cuda")
    assert result.exit_code == 1 and "no CUDA GPU" in result.stderr, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_force_does_not_suggest_resume(data, tmp_path):
    out = tmp_path / "out"
    assert train(data, out).exit_code == 0
    again = train(data, out, "--force", "--seed", "1")
    assert again.exit_code == 0, again.output
    assert "afresh" not in again.stderr and "--resume" not in again.stderr, again.stderr
