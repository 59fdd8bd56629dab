"""Every `ACD_*` setting of acd/settings.py is in the README's Settings table with its default,
and the table names no setting the code does not read."""

from __future__ import annotations

import re
from pathlib import Path

from acd.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def _table() -> dict[str, str]:
    text = README.read_text()
    section = text.split("## Settings (`ACD_*` environment)", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `ACD_"):
            continue
        names_cell, default_cell = line.split("|")[1:3]
        names = re.findall(r"`(ACD_[A-Z0-9_]+)`", names_cell)
        defaults = [d.strip() for d in default_cell.split(",")] if len(names) > 1 else [default_cell]
        assert len(defaults) == len(names), f"one default per variable in: {line}"
        for name, default in zip(names, defaults, strict=True):
            rows[name] = default.strip()
    return rows


def _env(field: str) -> str:
    return "ACD_" + field.upper()


def test_every_setting_is_in_the_table():
    rows = _table()
    missing = sorted(_env(f) for f in Settings.model_fields if _env(f) not in rows)
    assert not missing, f"README's Settings table leaves out {missing}"


def test_the_table_names_only_settings():
    rows = _table()
    known = {_env(f) for f in Settings.model_fields}
    assert not sorted(set(rows) - known)


def test_numeric_defaults_are_the_code_s():
    rows = _table()
    for field, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, bool) or not isinstance(default, int | float):
            continue
        cell = rows[_env(field)].replace(",", "").replace("`", "")
        numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", cell)}
        shown = float(default) in numbers or ("MiB" in cell and float(default) / 2**20 in numbers)
        assert shown, f"{_env(field)}: the README says {rows[_env(field)]!r}, the code {default!r}"
