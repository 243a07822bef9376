"""Regenerate the docs' tables that restate code: `python scripts/gen_docs.py` (make docs) rewrites
the text between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; `--check` only says which
are stale (tests/test_docs.py does the same in memory)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules() -> str:
    """Every module of camseg_cli with the first line of its docstring."""
    rows = ["| module | what it is |", "|---|---|"]
    for path in sorted((ROOT / "camseg_cli").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.name == "__init__":
            rel = rel.parent
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        rows.append(f"| `{'.'.join(rel.parts)}` | {first.replace('|', '/')} |")
    return "\n".join(rows)


def corruptions() -> str:
    from camseg_cli.core.data.corruption.table import table_rows

    rows = table_rows()
    keys = list(rows[0])
    head = ["corruption", "family", "1", "2", "3", "4", "5", "source"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(out)


def presets() -> str:
    """Every --aug preset, the group it belongs to and the corruption family it trains on."""
    from camseg_cli.core import choices as c

    def group(name: str) -> str:
        if name == "none":
            return "no augmentation (the baseline)"
        if name == "all":
            return "the original study's four together: " + ", ".join(c.AUG_STUDY)
        if name in c.AUG_STUDY:
            return "the original study"
        if name in c.AUG_EXTRA:
            return "extra"
        return "robustness (one per corruption family)"

    rows = ["| preset | group | corruption family it trains on |", "|---|---|---|"]
    rows += [f"| `{p}` | {group(p)} | {c.AUG_FAMILIES.get(p, '')} |" for p in c.AUG_PRESETS]
    return "\n".join(rows)


def commands() -> str:
    """Every command, its help line and its options, from the click tree behind the Typer app."""
    import click
    import typer.main

    from camseg_cli.cli import app

    group = typer.main.get_command(app)
    ctx = click.Context(group, info_name="camseg")
    out = []
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        out += [f"### `camseg {name}`", "", (cmd.help or "").strip().split("\n\n")[0], ""]
        out += ["| option | help |", "|---|---|"]
        for p in cmd.params:
            if p.param_type_name == "option":
                flags = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
            else:
                flags = f"`{p.name.upper()}`"
            text = " ".join((getattr(p, "help", None) or "").split()).replace("|", "/")
            out.append(f"| {flags} | {text} |")
        out.append("")
    return "\n".join(out).rstrip()


BLOCKS = {"presets": presets, "modules": modules, "corruptions": corruptions, "commands": commands}
PATTERN = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- /generated:\2 -->)", re.S)


def render(text: str) -> str:
    return PATTERN.sub(lambda m: m.group(1) + BLOCKS[m.group(2)]() + "\n" + m.group(4), text)


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def main(argv: list[str]) -> int:
    stale = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if "--check" not in argv:
                path.write_text(new, encoding="utf-8")
    for p in stale:
        print(f"{'stale' if '--check' in argv else 'regenerated'}: {p}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
