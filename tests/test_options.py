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


ONE_TEXT = ("--device", "--quiet", "--json", "--layout", "--skip-bad", "--out", "--workers", "--batch-size")


def mismatches(helps: dict[str, dict[str, str]], declared: dict[str, set[str]]) -> list[tuple]:
    """(flag, command, help) for every shared flag whose help options.py does not declare, and (flag,
    texts) for every one-meaning flag whose commands read differently; [] when all read the same."""
    bad: list[tuple] = []
    for flag in SHARED:
        used = {c: h for c, h in helps.get(flag, {}).items() if (c, flag) not in OTHER_MEANING}
        if not used:
            bad.append((flag, "no command takes it"))
        bad += [(flag, c, text) for c, text in used.items() if text not in declared.get(flag, set())]
    for flag in ONE_TEXT:  # one meaning, one text; --data and --split-by have an as-recorded variant
        texts = {h for c, h in helps.get(flag, {}).items() if (c, flag) not in OTHER_MEANING}
        if len(texts) != 1:
            bad.append((flag, texts))
    return bad


def test_a_shared_option_reads_the_same_in_every_command():
    helps = _helps()
    assert {"compare", "evaluate"} <= set(helps["--slice"])  # compare is checked like every command
    assert mismatches(helps, _declared()) == []


def test_a_command_whose_help_differs_is_caught():
    helps, declared = _helps(), _declared()
    assert "compare" in helps["--device"]
    changed = {flag: dict(by) for flag, by in helps.items()}
    changed["--device"]["compare"] = "Where to run."  # one command's own wording of a shared flag
    found = mismatches(changed, declared)
    assert ("--device", "compare", "Where to run.") in found
    assert ("--device", {"Where to run.", helps["--device"]["evaluate"]}) in found
