"""Cityscapes-format layouts (cityscapes, acdc, kitti) and bdd100k: detection, decoding, sequences,
synthetic writing and hostile folders (issue 24)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.data.classes.remap import lut_from_file
from camseg_cli.core.data.sources.layouts import detect_layout, open_dataset
from camseg_cli.core.data.sources.samples import read_mask, read_sample
from camseg_cli.core.data.sources.splits import split_by_sequence
from camseg_cli.core.data.sources.synthetic_cityscapes import write_cityscapes_family
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.bootstrap import frame_blocks

runner = CliRunner()
LAYOUTS = ("cityscapes", "acdc", "kitti", "bdd100k")
# Written out here from the Cityscapes definitions, apart from the package's table: the 34 label ids
# by name, and the 19 evaluated classes in train-id order. Every other label id is void.
LABEL_NAMES = [
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground",
    "road", "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge",
    "tunnel", "pole", "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky",
    "person", "rider", "car", "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
]  # fmt: skip
TRAIN_NAMES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
]  # fmt: skip
VOID = 19
EXPECTED = {i: TRAIN_NAMES.index(n) if n in TRAIN_NAMES else VOID for i, n in enumerate(LABEL_NAMES)}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cs")
    return {lay: write_cityscapes_family(base / lay, lay, images=6, size=(32, 64), seed=1) for lay in LAYOUTS}


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / src.name))


def _one_line_error(args: list[str], *fragments: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def test_the_classes_are_the_19_train_ids_then_void(synth):
    classes = open_dataset(synth["cityscapes"]).classes
    assert list(classes.names) == [*TRAIN_NAMES, "void"] and classes.void == VOID
    assert classes.colors[0] == (128, 64, 128) and classes.colors[10] == (70, 130, 180)  # road, sky


@pytest.mark.parametrize("layout", ["cityscapes", "acdc", "kitti"])
def test_label_ids_decode_to_train_ids_and_void(synth, layout, tmp_path):
    root = _copy(synth[layout], tmp_path)
    ref = open_dataset(root).splits["train"][0]
    h, w = read_mask(ref, open_dataset(root).classes).shape
    ids = np.arange(h * w, dtype=np.uint8).reshape(h, w) % 34  # every label id, many times
    Image.fromarray(ids).save(ref.mask)
    got = read_mask(ref, open_dataset(root).classes)
    assert np.array_equal(got, np.vectorize(EXPECTED.get)(ids))


def test_train_ids_are_used_when_present_and_bdd_reads_train_ids(synth, tmp_path):
    root = _copy(synth["cityscapes"], tmp_path)
    ref = open_dataset(root).splits["train"][0]
    h, w = Image.open(ref.mask).size[::-1]
    train = np.full((h, w), 255, np.uint8)
    train[:, : w // 2] = 13  # car
    Image.fromarray(train).save(ref.mask.with_name(ref.mask.name.replace("_labelIds", "_labelTrainIds")))
    info = open_dataset(root)
    again = info.splits["train"][0]
    assert again.mask.name.endswith("_gtFine_labelTrainIds.png") and again.kind == "trainid"
    got = read_mask(again, info.classes)
    assert (got[:, : w // 2] == 13).all() and (got[:, w // 2 :] == VOID).all()
    bdd = open_dataset(synth["bdd100k"])
    ref = bdd.splits["train"][0]
    raw = np.asarray(Image.open(ref.mask)).astype(np.int64)
    assert np.array_equal(read_mask(ref, bdd.classes), np.where(raw == 255, VOID, raw))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_detected_and_can_be_forced(synth, layout):
    assert detect_layout(synth[layout]) == layout
    info = open_dataset(synth[layout], layout)
    image, mask = read_sample(info.samples("train")[0], info.classes)
    assert image.shape[:2] == mask.shape == (32, 64)
    other = "cityscapes" if layout != "cityscapes" else "kitti"
    with pytest.raises(CamsegError):
        open_dataset(synth[layout], other).samples("train")


def test_withheld_test_labels_point_at_val(synth):
    for layout in ("cityscapes", "acdc", "bdd100k"):
        with pytest.raises(CamsegError, match="has no labels .*--split val"):
            open_dataset(synth[layout]).samples("test")
    with pytest.raises(CamsegError, match="--split train"):
        open_dataset(synth["kitti"]).samples("val")


def test_sequences_come_from_city_seq_and_acdc_folders(synth):
    info = open_dataset(synth["cityscapes"])
    refs = info.splits["train"]
    assert all(r.sequence == "_".join(r.name.split("_")[:2]) for r in refs)
    assert {r.sequence for r in refs} == {"aachen_000000"}
    # the block bootstrap groups by the same city_seq
    blocks = frame_blocks([r.name for r in refs], 2)
    assert sorted(len(b) for b in blocks) == [2, 2]
    acdc = open_dataset(synth["acdc"])
    for r in acdc.splits["train"]:
        assert r.sequence == r.image.parent.name and r.condition == r.image.parents[2].name
    by_seq = split_by_sequence(acdc)
    where = {r.sequence: s for s, refs in by_seq.splits.items() for r in refs}
    for s, refs in by_seq.splits.items():
        assert all(where[r.sequence] == s for r in refs)  # no sequence in two splits


def test_acdc_conditions_select_and_are_recorded(synth):
    info = open_dataset(synth["acdc"], conditions="night,fog")
    assert {r.condition for r in info.splits["train"]} == {"night", "fog"}
    assert len(info.splits["train"]) == 2 * len(
        open_dataset(synth["acdc"], conditions="snow").splits["train"]
    )
    with pytest.raises(CamsegError, match="unknown --condition 'dusk'"):
        open_dataset(synth["acdc"], conditions="dusk")
    with pytest.raises(CamsegError, match="acdc layout only"):
        open_dataset(synth["cityscapes"], conditions="night")


def test_synth_writes_label_ids_where_the_real_dataset_does(synth):
    cs = next((synth["cityscapes"] / "gtFine" / "train").rglob("*_gtFine_labelIds.png"))
    values = set(np.unique(np.asarray(Image.open(cs))).tolist())
    assert values <= set(EXPECTED) and values & {7, 11, 23}  # label ids: road 7, building 11, sky 23
    bdd = next((synth["bdd100k"] / "labels" / "sem_seg" / "masks" / "train").glob("*.png"))
    assert set(np.unique(np.asarray(Image.open(bdd))).tolist()) <= {*range(19), 255}
    assert not (synth["cityscapes"] / "gtFine" / "test").exists()  # as released: no test labels
    night = open_dataset(synth["acdc"], conditions="night").splits["train"]
    fog = open_dataset(synth["acdc"], conditions="fog").splits["train"]
    luma = [
        np.mean([read_sample(r, open_dataset(synth["acdc"]).classes)[0].mean() for r in s])
        for s in (night, fog)
    ]
    assert luma[0] < 60 < luma[1]


def test_synth_cli_writes_each_layout(tmp_path):
    for layout in LAYOUTS:
        args = ["synth", str(tmp_path / layout), "--layout", layout, "-n", "3", "--size", "16x32", "-q"]
        result = runner.invoke(app, args + (["--condition", "night"] if layout == "acdc" else []))
        assert result.exit_code == 0, result.output
        assert detect_layout(tmp_path / layout) == layout
    assert {r.condition for r in open_dataset(tmp_path / "acdc").splits["train"]} == {"night"}
    _one_line_error(["synth", str(tmp_path / "k2"), "--layout", "kitti", "--condition", "fog"], "acdc only")


@pytest.mark.parametrize("layout", ["cityscapes", "acdc", "kitti"])
def test_an_id_outside_the_table_is_one_line_naming_the_file(synth, layout, tmp_path):
    root = _copy(synth[layout], tmp_path)
    ref = open_dataset(root).splits["train"][0]
    ids = np.asarray(Image.open(ref.mask)).copy()
    ids[:2, :3] = 40  # not a Cityscapes label id
    Image.fromarray(ids).save(ref.mask)
    _one_line_error(["stats", "--data", str(root), "--out", str(tmp_path / "o"), "-q"],
                    str(ref.mask), "label id 40 on 6 pixels")  # fmt: skip


def test_bdd_train_id_outside_the_table_is_one_line(synth, tmp_path):
    root = _copy(synth["bdd100k"], tmp_path)
    ref = open_dataset(root).splits["val"][0]
    ids = np.asarray(Image.open(ref.mask)).copy()
    ids[0, 0] = 19  # 0..18 and 255 only
    Image.fromarray(ids).save(ref.mask)
    _one_line_error(["stats", "--data", str(root), "--out", str(tmp_path / "o"), "-q"],
                    str(ref.mask), "train id 19 on 1 pixels")  # fmt: skip


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_missing_gt_file_is_one_line_naming_it(synth, layout, tmp_path):
    root = _copy(synth[layout], tmp_path)
    ref = open_dataset(root).splits["train"][1]
    ref.mask.unlink()
    _one_line_error(["stats", "--data", str(root), "--out", str(tmp_path / "o"), "-q"],
                    f"{ref.mask}: ground truth not found", ref.image.name)  # fmt: skip


def test_shipped_class_maps_map_as_written(synth):
    from camseg_cli.core.data.classes.cityscapes import cityscapes_classes
    from camseg_cli.core.data.classes.maps import preset

    cam, cs = preset("camvid11"), cityscapes_classes()
    lut = lut_from_file(cam, cs, "camvid11_to_cityscapes19")
    hand = {"Sky": "sky", "Building": "building", "Pole": "pole", "Road": "road", "Pavement": "sidewalk",
            "Tree": "vegetation", "SignSymbol": "traffic sign", "Fence": "fence", "Car": "car",
            "Pedestrian": "person", "Bicyclist": "rider"}  # fmt: skip
    for i, name in enumerate(cam.names):
        want = cs.names.index(hand[name]) if name in hand else cs.void
        assert lut[i] == want, name
    back = lut_from_file(cs, cam, "cityscapes19_to_camvid11")
    assert back[cs.names.index("truck")] == cam.names.index("Car")
    assert back[cs.names.index("terrain")] == cam.void and back[cs.void] == cam.void


def test_a_bad_class_map_names_the_file_and_line(tmp_path):
    from camseg_cli.core.data.classes.cityscapes import cityscapes_classes
    from camseg_cli.core.data.classes.maps import preset

    bad = tmp_path / "m.csv"
    bad.write_text("from,to\nSky,sky\nRoad,highway\n")
    with pytest.raises(CamsegError, match=r"m.csv: line 3: 'highway' is not a class of the checkpoint"):
        lut_from_file(preset("camvid11"), cityscapes_classes(), bad)
    bad.write_text("a,b\n")
    with pytest.raises(CamsegError, match="header from,to"):
        lut_from_file(preset("camvid11"), cityscapes_classes(), bad)
