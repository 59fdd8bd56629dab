"""The hot modules' compiled twins (acd/compiled.py): used only while their source is the one they
were compiled from, and the same results as the source.

The twins are built into test-artifacts/compiled/ (kept between runs: a build whose sources did
not change is up to date at once), never into the package's own cache: the rest of the suite's
subprocesses keep running whatever the developer built, or the source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acd import compiled
from tests.conftest import ROOT

BUILD = ROOT / "test-artifacts" / "compiled"


def _python(code: str, *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _finder_code(directory: Path, *, require: bool = False) -> str:
    return (
        "import sys; from pathlib import Path; sys.path.insert(0, '.')\n"
        "from acd.compiled import CompiledFinder\n"
        f"finder = CompiledFinder(['pkgx.mod'], Path({str(directory)!r}), require={require})\n"
        "sys.meta_path.insert(0, finder)\n"
        "import pkgx.mod\n"
        "print(pkgx.mod.__file__, pkgx.mod.answer())\n"
    )


def test_a_twin_is_used_only_while_its_source_is_the_one_it_was_compiled_from(tmp_path) -> None:
    package = tmp_path / "pkgx"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def answer():\n    return 1\n")
    cache = tmp_path / "cache"
    done = compiled.build(["pkgx.mod"], root=tmp_path, directory=cache, jobs=1)
    assert done["built"] == ["pkgx.mod"]
    assert compiled.build(["pkgx.mod"], root=tmp_path, directory=cache)["built"] == []  # up to date

    ran = _python(_finder_code(cache), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr
    path, answer = ran.stdout.split()
    assert path.endswith(compiled.SUFFIX) and Path(path).parent == cache and answer == "1"

    # An edit: the stale twin is not used, the source is; with require, it is an import error.
    (package / "mod.py").write_text("def answer():\n    return 2\n")
    ran = _python(_finder_code(cache), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [str(package / "mod.py"), "2"]
    ran = _python(_finder_code(cache, require=True), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.returncode != 0 and "no compiled twin" in ran.stderr

    # Compiled again: the new twin replaces the stale one.
    assert compiled.build(["pkgx.mod"], root=tmp_path, directory=cache, jobs=1)["built"] == ["pkgx.mod"]
    assert len(list(cache.glob(f"pkgx.mod.*{compiled.SUFFIX}"))) == 1
    ran = _python(_finder_code(cache), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.stdout.split()[0].endswith(compiled.SUFFIX) and ran.stdout.split()[1] == "2"


def _typed_package(root: Path, mod: str) -> Path:
    """A package `pkgx` with a typed record `Rec` (rec.py and its rec.pxd) and a module `mod`."""
    package = root / "pkgx"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rec.py").write_text("class Rec:\n    def __init__(self):\n        self.n = 1\n")
    (package / "rec.pxd").write_text("cdef class Rec:\n    cdef public object n\n")
    (package / "mod.py").write_text(mod)
    return package


def test_a_changed_declaration_makes_every_twin_of_its_package_stale(tmp_path) -> None:
    """A `.pxd` (a typed record, acd/engine/records.pxd) is part of every twin's digest in its
    package: a module compiled against a record's old layout is never loaded with the new one."""
    package = _typed_package(
        tmp_path,
        "from pkgx.rec import Rec\n\ndef answer():\n    r = Rec()\n    try:\n        r.other = 2\n"
        "    except AttributeError:\n        return 'typed'\n    return r.n\n",
    )
    cache = tmp_path / "cache"
    both = ["pkgx.rec", "pkgx.mod"]
    assert compiled.build(both, root=tmp_path, directory=cache, jobs=1)["built"] == both
    ran = _python(
        _finder_code(cache).replace("['pkgx.mod']", repr(both)), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)}
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split()[0].endswith(compiled.SUFFIX) and ran.stdout.split()[1] == "typed"

    (package / "rec.pxd").write_text("cdef class Rec:\n    cdef public object n, other\n")
    ran = _python(_finder_code(cache), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.stdout.split() == [str(package / "mod.py"), "1"]  # the source: no stale twin
    assert compiled.build(both, root=tmp_path, directory=cache, jobs=1)["built"] == both
    assert len(list(cache.glob(f"pkgx.mod.*{compiled.SUFFIX}"))) == 1


def test_an_edited_module_sends_its_whole_package_to_the_source(tmp_path) -> None:
    """The twins cimport each other's types (the engine's line and records): a twin compiled
    against a typed record would not load beside that record's edited source ("size changed").
    One module edited since the build, and every module of its package runs from the source."""
    package = _typed_package(
        tmp_path,
        "import cython\n\nfrom pkgx.rec import Rec\n\n\n@cython.locals(r=Rec)\n"
        "def answer():\n    r = Rec()\n    return r.n\n",
    )
    (package / "mod.pxd").write_text("from pkgx.rec cimport Rec\n")
    cache = tmp_path / "cache"
    both = ["pkgx.rec", "pkgx.mod"]
    assert compiled.build(both, root=tmp_path, directory=cache, jobs=1)["built"] == both
    code = _finder_code(cache).replace("['pkgx.mod']", repr(both))
    ran = _python(code, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split()[0].endswith(compiled.SUFFIX) and ran.stdout.split()[1] == "1"

    (package / "rec.py").write_text("class Rec:\n    def __init__(self):\n        self.n = 2\n")  # a hotfix
    ran = _python(code, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [str(package / "mod.py"), "2"]  # the source, both modules
    ran = _python(code.replace("require=False", "require=True"), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert ran.returncode != 0 and "no compiled twin" in ran.stderr and "pkgx.rec" in ran.stderr


@pytest.fixture(scope="module")
def built() -> Path:
    """Every hot module compiled (once; up to date at once on a later run)."""
    compiled.build(directory=BUILD)
    return BUILD


def _simulate(scenario: str, env: dict[str, str], *args: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
    path = ROOT / "config" / "scenarios" / scenario
    ran = subprocess.run(
        [sys.executable, "-m", "acd", "simulate", str(path), "--json", "--no-progress", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    report.pop("wall_s")
    return report


def test_the_environment_chooses_the_twins_or_the_source(built) -> None:
    code = "import acd.engine.line as m, acd.compiled as c; print(m.__file__, all(c.active().values()))"
    twins = _python(code, cwd=ROOT, env={"ACD_COMPILED_DIR": str(built), "ACD_COMPILED": "require"})
    assert twins.returncode == 0, twins.stderr
    assert twins.stdout.split()[0].endswith(compiled.SUFFIX) and twins.stdout.split()[1] == "True"
    source = _python(code, cwd=ROOT, env={"ACD_COMPILED_DIR": str(built), "ACD_COMPILED": "0"})
    assert source.stdout.split() == [str(ROOT / "acd" / "engine" / "line.py"), "False"]


@pytest.mark.parametrize(
    ("scenario", "args"),
    [
        ("mm50m.yaml", ("--calls", "4000")),
        ("campaign-peak-day.yaml", ()),  # the shipped config: callbacks, overflow, appointments
    ],
)
def test_the_compiled_engine_simulates_exactly_as_the_source(built, scenario, args) -> None:
    source = _simulate(scenario, {"ACD_COMPILED": "0"}, *args)
    twins = _simulate(scenario, {"ACD_COMPILED": "require", "ACD_COMPILED_DIR": str(built)}, *args)
    assert twins == source
    assert source["offered"] > 0
