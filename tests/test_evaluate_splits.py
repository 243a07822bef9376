"""evaluate / compare honour --split-by sequence, and default to the split the run was trained on."""

from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.splits import sequence_of
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.evaluation.scoring.result_cache import load_cache
from camseg_cli.core.model.checkpoint import build_model, make_checkpoint, save_checkpoint

runner = CliRunner()


def _checkpoint(tmp_path, data, config):
    classes = preset("camvid32")
    model = build_model("mobilenet_v3_large", classes.num_classes, "none")
    ckpt = make_checkpoint(
        model, arch="mobilenet_v3_large", classes=classes, image_size=(32, 48), run="seq", aug="none",
        data=str(data), layout="rgb", epoch=1, history=[], config=config,
    )  # fmt: skip
    return save_checkpoint(tmp_path / "seq.pt", ckpt)


def _evaluated_sequences(tmp_path, args):
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", *args, "--bootstrap", "0", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output

    names = load_cache(out / "eval" / "seq-test.npz").image_names
    return {sequence_of(n) for n in names}, len(names)


def test_evaluate_split_by_sequence_explicit_and_as_trained(tmp_path):
    data = write_dataset(tmp_path / "d", "rgb", images=12, size=(32, 48), seed=1)
    ckpt = _checkpoint(tmp_path, data, {})
    own, n_own = _evaluated_sequences(tmp_path, [str(ckpt)])
    assert n_own < 4  # the dataset's own test split: the last 20% of frames
    args = [str(ckpt), "--split-by", "sequence", "--val-sequences", "0006R0", "--test-sequences", "0016E5"]
    seqs, n = _evaluated_sequences(tmp_path, args)
    assert seqs == {"0016E5"} and n == 4
    # a run trained on a sequence split is scored on its held-out sequences without being told
    trained = {"split_by": "sequence", "val_sequences": "0016E5", "test_sequences": "0006R0"}
    ckpt = _checkpoint(tmp_path, data, trained)
    seqs, n = _evaluated_sequences(tmp_path, [str(ckpt)])
    assert seqs == {"0006R0"} and n == 4


def test_train_on_a_sequence_split_records_it_and_evaluate_follows(tmp_path):
    data = write_dataset(tmp_path / "d", "rgb", images=12, size=(32, 48), seed=2)
    out = tmp_path / "out"
    args = ["train", "--data", str(data), "--arch", "mobilenet_v3_large", "--weights", "none"]
    args += ["--size", "32x48", "--epochs", "1", "--batch-size", "2", "--workers", "0", "--device", "cpu"]
    args += ["--out", str(out), "--run", "seq", "--split-by", "sequence"]
    args += ["--val-sequences", "0016E5", "--test-sequences", "0006R0", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    seqs, n = _evaluated_sequences(tmp_path, [str(out / "seq.pt")])
    assert seqs == {"0006R0"} and n == 4
    bad = runner.invoke(app, [*args[:-1], "--split-by", "random"])
    assert bad.exit_code == 1 and "--split-by" in bad.output
