import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.class_weights import class_weights
from tests.conftest import random_samples, write_layout

runner = CliRunner()


@pytest.fixture
def dataset(tmp_path: Path):
    cm = preset("camvid32")
    splits = {"train": random_samples(cm, 4, seed=1, used=6), "val": random_samples(cm, 2, seed=2)}
    # one very dark image in val
    name, image, mask = splits["val"][0]
    splits["val"][0] = (name, (image // 16).astype(np.uint8), mask)
    return write_layout(tmp_path / "data", "rgb", splits, cm), splits, cm


def _numpy_counts(items, n):
    total = np.zeros(n, dtype=np.int64)
    for _, _, mask in items:
        for c in range(n):  # deliberately naive: an independent oracle
            total[c] += int((mask == c).sum())
    return total


def test_stats_json_pixel_counts_equal_numpy_count(dataset, tmp_path: Path):
    root, splits, cm = dataset
    result = runner.invoke(app, ["stats", "--data", str(root), "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["layout"] == "rgb" and doc["classes"] == list(cm.names)
    for split, items in splits.items():
        expected = _numpy_counts(items, cm.num_classes)
        got = np.array([doc["splits"][split]["pixels"][n] for n in cm.names])
        np.testing.assert_array_equal(got, expected)
        assert doc["splits"][split]["images"] == len(items)
    assert "Void" in doc["splits"]["train"]["pixels"]
    dark = doc["splits"]["val"]["dark_images"]
    assert len(dark) == 1 and dark[0]["image"].endswith(f"{splits['val'][0][0]}.png")
    assert doc["splits"]["train"]["dark_images"] == []


def test_stats_writes_csvs_and_chart(dataset, tmp_path: Path):
    root, splits, cm = dataset
    out = tmp_path / "o"
    result = runner.invoke(app, ["stats", "--data", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    counts = pd.read_csv(out / "stats" / "class_counts.csv")
    assert list(counts.columns) == ["split", "class", "pixels", "fraction"]
    train = counts[counts["split"] == "train"].set_index("class")
    expected = _numpy_counts(splits["train"], cm.num_classes)
    assert train.loc["Animal", "pixels"] == expected[0]
    assert train["fraction"].sum() == pytest.approx(1.0)
    weights = pd.read_csv(out / "stats" / "class_weights.csv")
    # classes 6.. never appear in train (used=6): weight 0, and a warning names them
    assert (weights.loc[6:, "median"] == 0).all() and (weights.loc[:5, "median"] > 0).all()
    assert "no train pixels" in result.output
    assert (out / "stats" / "class_counts.png").stat().st_size > 1000


def test_class_weights_match_formulas():
    counts = np.array([100, 300, 0, 600, 50])  # class 4 is void
    freq = np.array([0.1, 0.3, 0.0, 0.6])
    med = class_weights(counts, "median", void=4)
    expected_median = np.median([0.1, 0.3, 0.6]) / freq[[0, 1, 3]]
    np.testing.assert_allclose(med[[0, 1, 3]], expected_median, rtol=1e-6)
    assert med[2] == 0 and med[4] == 0
    enet = class_weights(counts, "enet", void=4)
    np.testing.assert_allclose(enet[[0, 1, 3]], 1 / np.log(1.02 + freq[[0, 1, 3]]), rtol=1e-6)


@pytest.mark.parametrize("problem", ["unknown colour", "size mismatch", "missing mask", "bad class_dict"])
def test_bad_data_gives_one_line_error_and_exit_1(dataset, tmp_path: Path, problem: str):
    from PIL import Image

    root, splits, _ = dataset
    name = splits["train"][0][0]
    if problem == "unknown colour":
        Image.fromarray(np.full((24, 32, 3), 7, np.uint8)).save(root / "train_labels" / f"{name}_L.png")
        fragment = "(7, 7, 7) on 768 pixels"
    elif problem == "size mismatch":
        Image.fromarray(np.zeros((12, 32, 3), np.uint8)).save(root / "train" / f"{name}.png")
        fragment = "they must match"
    elif problem == "missing mask":
        (root / "train_labels" / f"{name}_L.png").unlink()
        fragment = "no mask"
    else:
        (root / "class_dict.csv").write_text("name,red,green\nSky,1,2\n")
        fragment = "lacks column(s)"
    result = runner.invoke(app, ["stats", "--data", str(root), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o" / "stats" / "class_counts.csv").exists()


def test_stats_weights_are_the_ones_train_uses(dataset, tmp_path: Path):
    """stats prints and writes the weights train computes from the same split (one computation), and the
    frequencies they come from, each class's share of the non-void train pixels counted here."""
    from camseg_cli.core.data.sources.layouts import open_dataset
    from camseg_cli.core.train.optim import train_pixel_counts

    root, splits, cm = dataset
    out = tmp_path / "o"
    result = runner.invoke(app, ["stats", "--data", str(root), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    counts = train_pixel_counts(open_dataset(root))  # what `camseg train --class-weights` reads
    csv = pd.read_csv(out / "stats" / "class_weights.csv").set_index("class")
    for method in ("median", "enet"):
        trained = class_weights(counts, method, cm.void, warn=False)
        got = np.array([doc["class_weights"][m][n] for m in [method] for n in cm.names])
        np.testing.assert_allclose(got, trained, rtol=1e-6)
        np.testing.assert_allclose(csv.loc[list(cm.names), method], trained, rtol=1e-6)
    pixels = _numpy_counts(splits["train"], cm.num_classes)
    real = [i for i in range(cm.num_classes) if i != cm.void]
    share = {cm.names[i]: pixels[i] / pixels[real].sum() for i in real} | {cm.names[cm.void]: 0.0}
    assert doc["class_frequency"] == pytest.approx(share)
    np.testing.assert_allclose(csv.loc[list(share), "frequency"], list(share.values()), rtol=1e-9)
