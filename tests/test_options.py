"""Options shared by several commands are declared once (camseg_cli/options.py): their help reads the same
in every command that takes them."""

from __future__ import annotations

import typer

from camseg_cli import options
from camseg_cli.cli import app

SHARED = ("--device", "--quiet", "--json", "--layout", "--skip-bad", "--out", "--data", "--workers",
          "--batch-size", "--split-by", "--val-sequences", "--test-sequences", "--cache", "--threads",
          "--slice")  # fmt: skip
# the same flag with another meaning, declared where it is used: (command, flag)
OTHER_MEANING = {
    ("synth", "--layout"),  # a layout to write, not one to read
    ("synth", "--workers"),  # rendering processes
    ("train", "--batch-size"),  # images per training step
    ("predict", "--out"),  # the predictions' own folder
    ("corrupt-preview", "--out"),  # a PNG file
}
NOT_YET = {"compare"}  # its options move to options.py when compare's rewrite merges


def _helps() -> dict[str, dict[str, str]]:
    """flag -> command -> help, from the click tree of the Typer app."""
    root = typer.main.get_command(app)
    out: dict[str, dict[str, str]] = {}
    for name, cmd in root.commands.items():
        for p in cmd.params:
            if getattr(p, "param_type_name", "") == "option":
                out.setdefault(p.opts[0], {})[name] = p.help
    return out


def _declared() -> dict[str, set[str]]:
    """flag -> the help texts options.py declares for it."""
    out: dict[str, set[str]] = {}
    for value in vars(options).values():
        if isinstance(value, typer.models.OptionInfo):
            out.setdefault(value.param_decls[0], set()).add(value.help)
    return out


def test_a_shared_option_reads_the_same_in_every_command():
    helps, declared = _helps(), _declared()
    for flag in SHARED:
        used = {c: h for c, h in helps[flag].items() if c not in NOT_YET and (c, flag) not in OTHER_MEANING}
        assert used, (flag, used)  # (--slice is shared with compare, in NOT_YET)
        for command, text in used.items():
            assert text in declared[flag], (flag, command, text)  # declared once, in options.py
    one_text = (
        "--device",
        "--quiet",
        "--json",
        "--layout",
        "--skip-bad",
        "--out",
        "--workers",
        "--batch-size",
    )
    for flag in one_text:  # one meaning, one text; --data and --split-by have an as-recorded variant
        texts = {h for c, h in helps[flag].items() if c not in NOT_YET and (c, flag) not in OTHER_MEANING}
        assert len(texts) == 1, (flag, texts)
