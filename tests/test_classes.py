from pathlib import Path

import numpy as np
import pytest

from camseg_cli.core.data.classes.maps import (
    ClassMap,
    preset,
    read_class_dict,
    read_classmap,
    read_codes,
    read_label_colors,
)
from camseg_cli.core.errors import CamsegError


def test_camvid32_preset_has_32_distinct_classes_and_black_void():
    cm = preset("camvid32")
    assert cm.num_classes == 32
    assert cm.void is not None and cm.names[cm.void] == "Void" and cm.colors[cm.void] == (0, 0, 0)
    assert cm.ignore_index == cm.void
    assert len(set(cm.colors)) == 32
    assert cm.names.index("Road") == 17 and cm.colors[17] == (128, 64, 128)


def test_camvid11_preset_is_segnet_order_with_void_last():
    cm = preset("camvid11")
    assert cm.names[:4] == ("Sky", "Building", "Pole", "Road")
    assert cm.num_classes == 12 and cm.void == 11


def test_class_dict_tolerates_spaces_and_detects_void(tmp_path: Path):
    p = tmp_path / "class_dict.csv"
    p.write_text("name, r, g, b\nSky, 128, 128, 128\nRoad,128,64,128\nunlabelled, 0, 0, 0\n")
    cm = read_class_dict(p)
    assert cm.names == ("Sky", "Road", "unlabelled")
    assert cm.colors == ((128, 128, 128), (128, 64, 128), (0, 0, 0))
    assert cm.void == 2
    assert read_classmap(p) == cm


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("name,r,g\nSky,1,2\n", "lacks column(s) b"),
        ("name,r,g,b\nSky,1,2,x\n", "not three integers"),
        ("name,r,g,b\nSky,1,2,300\n", "0..255"),
        ("name,r,g,b\nSky,1,2,3\nRoad,1,2,3\n", "duplicate colour"),
        ("name,r,g,b\nSky,1,2,3\nsky,4,5,6\n", "duplicate class name"),
        ("name,r,g,b\nSky,1,2\n", "expected 4 values"),
        ("", "empty class_dict.csv"),
        ("name,r,g,b\n", "no classes"),
    ],
)
def test_malformed_class_dict_names_file_and_problem(tmp_path: Path, text: str, fragment: str):
    p = tmp_path / "class_dict.csv"
    p.write_text(text)
    with pytest.raises(CamsegError) as e:
        read_class_dict(p)
    assert str(p) in str(e.value) and fragment in str(e.value)


def test_codes_txt_uses_camvid_colours_and_distinct_fallbacks(tmp_path: Path):
    p = tmp_path / "codes.txt"
    p.write_text("Sky\nRoad\nMyThing\nOther\nVoid\n")
    cm = read_codes(p)
    assert cm.colors[0] == (128, 128, 128) and cm.colors[1] == (128, 64, 128)
    assert len(set(cm.colors)) == 5 and cm.void == 4


def test_label_colors_txt(tmp_path: Path):
    p = tmp_path / "label_colors.txt"
    p.write_text("64 128 64\tAnimal\n128 64 128\tRoad\n0 0 0\tVoid\n")
    cm = read_label_colors(p)
    assert cm.names == ("Animal", "Road", "Void") and cm.colors[1] == (128, 64, 128) and cm.void == 2
    p.write_text("64 128\tAnimal\n")
    with pytest.raises(CamsegError, match="line 1"):
        read_label_colors(p)


def test_round_trip_dict_and_palette():
    cm = preset("camvid32")
    assert ClassMap.from_dict(cm.to_dict()) == cm
    mask = np.array([[0, 17], [30, 21]])
    assert cm.palette()[mask].tolist() == [[[64, 128, 64], [128, 64, 128]], [[0, 0, 0], [128, 128, 128]]]


def test_unknown_preset_and_file_kind(tmp_path: Path):
    with pytest.raises(CamsegError, match="camvid32"):
        preset("cityscapes")
    with pytest.raises(CamsegError, match="unknown class file"):
        read_classmap(tmp_path / "classes.yaml")
