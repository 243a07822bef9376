"""Sequence-aware splits and train leakage: plans, regrouping, perceptual hashes, `camseg stats` options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.maps import preset
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.splits import (
    hamming,
    leakage_report,
    parse_sequences,
    phash,
    plan_sequences,
    sequence_of,
    sequences_by_split,
    split_by_sequence,
)
from camseg_cli.core.errors import CamsegError
from tests.conftest import write_layout

runner = CliRunner()
CAMVID = {"0001TP": 124, "0006R0": 101, "0016E5": 305, "Seq05VD": 171}  # labelled frames per sequence
SIZE = (48, 64)


def scene(seed: int, size=SIZE) -> np.ndarray:
    """A smooth random picture (coarse colour grid, bilinear-upsampled): hashes behave as on photos."""
    coarse = np.random.default_rng(seed).integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize(size[::-1], Image.Resampling.BILINEAR))


def near_copy(image: np.ndarray, seed: int) -> np.ndarray:
    """The next frame of a slow drive: shifted one pixel, a little sensor noise."""
    noise = np.random.default_rng(seed).integers(-6, 7, size=image.shape)
    return np.clip(np.roll(image, 1, axis=1).astype(int) + noise, 0, 255).astype(np.uint8)


def _mask(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 5, size=SIZE)


def test_sequence_of_camvid_names_and_fallbacks():
    assert sequence_of("0001TP_006690") == "0001TP"
    assert sequence_of("0006R0_f00930.png") == "0006R0"
    assert sequence_of("0016E5_07959") == "0016E5"
    assert sequence_of("Seq05VD_f00000") == "Seq05VD"
    assert sequence_of("frame0042") == "frame"
    assert sequence_of("00042") == "00042"
    assert parse_sequences(" 0016E5, Seq05VD ,") == ("0016E5", "Seq05VD")
    assert parse_sequences("") is None and parse_sequences(None) is None


def test_default_plan_on_camvid_holds_out_whole_sequences():
    plan = plan_sequences(CAMVID)
    assert plan == {"train": ["0001TP", "0016E5"], "val": ["0006R0"], "test": ["Seq05VD"]}
    sizes = {s: sum(CAMVID[q] for q in seqs) for s, seqs in plan.items()}
    assert sizes == {"train": 429, "val": 101, "test": 171}


def test_chosen_sequences_and_default_for_the_other_split():
    assert plan_sequences(CAMVID, val="0016E5") == {
        "train": ["0001TP", "0006R0"],
        "val": ["0016E5"],
        "test": ["Seq05VD"],
    }
    assert plan_sequences(CAMVID, val=["0001TP"], test="0006R0,Seq05VD")["train"] == ["0016E5"]


def test_fallback_when_default_sequences_are_missing_is_deterministic():
    counts = {"a": 10, "b": 4, "c": 3, "d": 3, "e": 1}
    plan = plan_sequences(counts)
    assert plan == plan_sequences(dict(reversed(counts.items())))
    assert plan["train"][0] == "a" and plan["val"] and plan["test"]
    assert sorted(q for seqs in plan.values() for q in seqs) == sorted(counts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val": "nope"}, "nope not in the data"),
        ({"val": "0006R0", "test": "0006R0"}, "both val and test"),
        ({"val": "0001TP,0006R0", "test": "0016E5,Seq05VD"}, "no sequence is left for train"),
    ],
)
def test_bad_sequence_choices_are_one_clear_error(kwargs, message):
    with pytest.raises(CamsegError, match=message):
        plan_sequences(CAMVID, **kwargs)


def test_one_sequence_cannot_be_split():
    with pytest.raises(CamsegError, match="one sequence"):
        plan_sequences({"0001TP": 30})


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from([*CAMVID, "x", "y", "z1"]), st.integers(1, 400), min_size=2))
def test_every_sequence_lands_in_exactly_one_split(counts):
    plan = plan_sequences(counts)
    placed = [q for seqs in plan.values() for q in seqs]
    assert sorted(placed) == sorted(counts)
    assert plan["train"]
    if len(counts) >= 3:
        assert plan["val"] and plan["test"]


def _sequence_dataset(root: Path) -> Path:
    """Dataset's own split mixes sequences; each val image is a near-copy of a train frame."""
    cm = preset("camvid32")
    train = [(f"{q}_{i:05d}", scene(k * 10 + i), _mask(i)) for k, q in enumerate(CAMVID) for i in range(3)]
    val = [(f"0001TP_{i:05d}9", near_copy(train[i][1], i), _mask(i)) for i in range(2)]
    val.append(("0006R0_99999", scene(999), _mask(9)))
    test = [("Seq05VD_00001", scene(777), _mask(7))]
    return write_layout(root, "rgb", {"train": train, "val": val, "test": test}, cm)


def test_split_by_sequence_keeps_every_image_and_separates_sequences(tmp_path: Path):
    info = open_dataset(_sequence_dataset(tmp_path / "d"))
    assert set(sequences_by_split(info)["val"]) & set(sequences_by_split(info)["train"])  # leaky as given
    by_seq = split_by_sequence(info)
    before = sorted(r.image for refs in info.splits.values() for r in refs)
    assert sorted(r.image for refs in by_seq.splits.values() for r in refs) == before
    seqs = {s: set(q) for s, q in sequences_by_split(by_seq).items()}
    assert seqs == {"train": {"0001TP", "0016E5"}, "val": {"0006R0"}, "test": {"Seq05VD"}}
    assert open_dataset(tmp_path / "d", split_by="sequence").splits == by_seq.splits
    chosen = open_dataset(
        tmp_path / "d", split_by="sequence", val_sequences="0016E5", test_sequences="0006R0"
    )
    assert {s: set(q) for s, q in sequences_by_split(chosen).items()}["val"] == {"0016E5"}


def test_sequence_options_without_split_by_sequence_are_an_error(tmp_path: Path):
    with pytest.raises(CamsegError, match="need --split-by sequence"):
        open_dataset(_sequence_dataset(tmp_path / "d"), val_sequences="0006R0")
    with pytest.raises(CamsegError, match="unknown --split-by"):
        open_dataset(tmp_path / "d", split_by="random")


def _save(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path)
    return path


def test_phash_near_copies_are_close_and_unrelated_scenes_far(tmp_path: Path):
    base = scene(1)
    images = {"a": base, "a_again": base.copy(), "a_next": near_copy(base, 0)}
    images |= {"a_dim": (base * 0.7).astype(np.uint8), "b": scene(2), "c": scene(3)}
    h = {k: phash(_save(tmp_path / f"{k}.png", im)) for k, im in images.items()}
    d = lambda x, y: int(hamming(np.array([h[x]], np.uint64), np.array([h[y]], np.uint64))[0, 0])  # noqa: E731
    assert d("a", "a_again") == 0
    assert d("a", "a_next") <= 6 and d("a", "a_dim") <= 6
    assert d("a", "b") > 12 and d("a", "c") > 12


def test_hamming_equals_a_naive_bit_count(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) for n in (5, 7))
    naive = [[bin(int(x) ^ int(y)).count("1") for y in b] for x in a]
    np.testing.assert_array_equal(hamming(a, b), naive)
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # numpy 1.x path
    np.testing.assert_array_equal(hamming(a, b), naive)


def test_leakage_counts_near_copies_in_the_given_split_and_none_by_sequence(tmp_path: Path):
    info = open_dataset(_sequence_dataset(tmp_path / "d"))
    report = leakage_report(info, threshold=8)
    assert report["splits"]["val"]["near_duplicates"] == 2
    assert report["splits"]["val"]["images"] == 3
    assert report["splits"]["test"]["near_duplicates"] == 0
    assert report["splits"]["val"]["sequences_shared_with_train"] == ["0001TP", "0006R0"]
    leaked = [r for r in report["images"] if r["distance"] <= 8]
    assert {Path(r["nearest"]).name for r in leaked} == {"0001TP_00000.png", "0001TP_00001.png"}
    by_seq = leakage_report(split_by_sequence(info), threshold=8)
    assert all(s["near_duplicates"] == 0 for s in by_seq["splits"].values())
    with pytest.raises(CamsegError, match="0..64"):
        leakage_report(info, threshold=65)


def test_stats_cli_leakage_and_split_by_sequence(tmp_path: Path):
    root = _sequence_dataset(tmp_path / "d")
    out = tmp_path / "o"
    args = [
        "stats",
        "--data",
        str(root),
        "--out",
        str(out),
        "--json",
        "--leakage",
        "--leakage-threshold",
        "8",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["leakage"]["splits"]["val"]["near_duplicates"] == 2 and doc["split_by"] == "dataset"
    assert (out / "stats" / "leakage.csv").read_text().startswith("split,image,nearest,distance")
    result = runner.invoke(app, [*args, "--split-by", "sequence", "--test-sequences", "0016E5"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["sequences"]["test"]) == {"0016E5"} and set(doc["sequences"]["val"]) == {"0006R0"}
    assert doc["splits"]["test"]["images"] == 3
    table = runner.invoke(app, ["stats", "--data", str(root), "--out", str(out), "--leakage"])
    assert table.exit_code == 0 and "near-duplicates" in table.stdout and "sequences —" in table.stdout


def test_stats_cli_bad_sequence_is_one_red_line(tmp_path: Path):
    root = _sequence_dataset(tmp_path / "d")
    args = ["stats", "--data", str(root), "--out", str(tmp_path / "o"), "--split-by", "sequence"]
    result = runner.invoke(app, [*args, "--val-sequences", "0099XX"])
    assert result.exit_code == 1
    assert "0099XX not in the data" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["stats", "--data", str(root), "--val-sequences", "0006R0"])
    assert result.exit_code == 1 and "need --split-by sequence" in result.output
