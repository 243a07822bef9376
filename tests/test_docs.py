"""The docs' generated tables match the code, and their links point at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts import gen_docs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", gen_docs.doc_files(), ids=lambda p: p.name)
def test_generated_tables_match_the_code(path):
    text = path.read_text(encoding="utf-8")
    assert gen_docs.render(text) == text, f"{path.name} is stale: run `make docs`"


def test_every_generator_has_a_block_and_each_block_is_filled():
    found = {}
    for path in gen_docs.doc_files():
        for m in gen_docs.PATTERN.finditer(path.read_text(encoding="utf-8")):
            found[m.group(2)] = m.group(3)
    assert set(found) == set(gen_docs.BLOCKS)
    assert "| `camseg_cli.core.data.corruption.table` |" in found["modules"]
    assert "| gaussian_noise | noise |" in found["corruptions"]
    assert "| `lowlight` | robustness (one per corruption family) | camera |" in found["presets"]
    assert "### `camseg train`" in found["commands"] and "`--aug`" in found["commands"]


def test_a_stale_block_is_rewritten():
    stale = "<!-- generated:corruptions -->\n| old |\n<!-- /generated:corruptions -->"
    assert "| old |" not in gen_docs.render(stale)
    assert "| lens_distortion | camera |" in gen_docs.render(stale)


def test_relative_links_point_at_files():
    for path in gen_docs.doc_files():
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            assert (path.parent / target).exists(), (path.name, target)
