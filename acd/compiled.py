"""Compiled twins of the hot modules: the same source, compiled by Cython, used only while the
source is what they were compiled from.

The engine's per-event work and the simulator's loop are Python bookkeeping (docs/performance.md):
interpreted, each attribute, call and comparison goes through the bytecode loop. Cython compiles
the very same `.py` files to C extension modules (no `.pyx`: pure Python mode with annotations
ignored), which run the same code without the bytecode loop. A few declarations beside them
(the `.pxd` files: the records and the line as extension types, acd/engine/records.pxd and
line.pxd; `cython.locals` in the hot functions, no-ops from the source) let the compiled code read
their fields at fixed offsets instead of by name (docs/performance.md, fourteenth round).

- `acd compile` (Cython and a C compiler: `pip install -e '.[fast]'`) compiles the modules of
  `HOT` into `ACD_COMPILED_DIR` (default `acd/__compiled__/`, beside the source, as `__pycache__`
  is). Each file is named by its module and the digest of the source it came from and of every
  `.pxd` of its package (a changed declaration makes every twin of the package stale).
- On import, `install()` (called by acd/__init__.py) puts a finder ahead of Python's own: for a
  module of `HOT` it takes the compiled file of its source's digest, as the source is now, while
  every hot module of its package has one; none (never compiled, or a source of the package
  changed since: an edit is never shadowed by a stale build, and the twins, which cimport each
  other's types, never load beside an edited module they were compiled against) and the
  package's source is imported as usual. Nothing else changes: the other modules, the numba kernels,
  the tests, are the same either way.
- `ACD_COMPILED=0` turns the finder off (the source, always); `ACD_COMPILED=require` makes a hot
  module without its up-to-date compiled twin an import error (CI's run of the tests on the
  compiled modules, which must not pass on the source by mistake).

Without a build nothing is different: a fresh install runs the source, and every figure it gives
is the source's. What compiling buys is measured in `benchmarks/` and written in
docs/performance.md.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: The modules compiled: the engine's parts an event goes through (with the calendar, the callers'
#: numbers, the decisions), the router's Python side, the simulator's loop, platform and figures.
#: Never a module with numba kernels (numba compiles bytecode).
HOT: tuple[str, ...] = (
    "acd.calendar",
    "acd.model",
    "acd.phone",
    "acd.engine.agents",
    "acd.engine.appointments",
    "acd.engine.callback_checks",
    "acd.engine.callbacks",
    "acd.engine.caller_hours",
    "acd.engine.calls",
    "acd.engine.core",
    "acd.engine.ewt",
    "acd.engine.kept",
    "acd.engine.line",
    "acd.engine.outbound",
    "acd.engine.records",
    "acd.engine.overflow",
    "acd.engine.slots",
    "acd.engine.sync",
    "acd.engine.timers",
    "acd.engine.today",
    "acd.engine.watchdog",
    "acd.engine.windows",
    "acd.routing.base",
    "acd.routing.router",
    "acd.routing.table",
    "acd.sim.arrivals",
    "acd.sim.events",
    "acd.sim.loop",
    "acd.sim.measures",
    "acd.sim.platform",
    "acd.sim.shifts",
    "acd.sim.stats",
    "acd.sim.streams",
)

#: Part of every digest: a change of how modules are compiled makes every earlier build stale.
RECIPE = "cython3-pure-v2"
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True}
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    return Path(os.environ.get("ACD_COMPILED_DIR") or PACKAGE / "__compiled__")


def digest(source: bytes, declared: bytes = b"") -> str:
    return hashlib.sha256(RECIPE.encode() + b"\0" + source + b"\0" + declared).hexdigest()[:20]


def compiled_path(name: str, source: bytes, directory: Path | None = None, declared: bytes = b"") -> Path:
    return (directory or cache_dir()) / f"{name}.{digest(source, declared)}{SUFFIX}"


def declarations(package: Path) -> dict[str, bytes]:
    """The Cython declarations (`.pxd`) under a top-level package's directory, by their path from
    its parent: what typed records and parts are compiled with (docs/performance.md, fourteenth
    round). A module's C code reads the records it cimports at the offsets these give."""
    return {
        path.relative_to(package.parent).as_posix(): path.read_bytes()
        for path in sorted(package.rglob("*.pxd"))
    }


def declared(package: Path, texts: dict[str, bytes] | None = None) -> bytes:
    """Every declaration under the package (`texts`: as read already), as part of each of its
    modules' digests: a `.pxd` changed makes every twin of the package stale (a twin compiled
    against the old layout of a record it cimports would read the wrong fields), not one only."""
    texts = declarations(package) if texts is None else texts
    return b"".join(name.encode() + b"\0" + text + b"\0" for name, text in texts.items())


def _place(src: Path, relative: Path, data: bytes) -> Path:
    """Write `data` at `relative` under the build's source tree `src`, each folder on the way a
    package (an empty `__init__.py`), as the module's own package layout; returns the file."""
    copy = src / relative
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(data)
    for package in copy.parents:
        if package == src:
            break
        (package / "__init__.py").touch()
    return copy


class CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled twin of a module of `modules` whose source it was built from is the
    source now; otherwise nothing (Python's own finders import the source)."""

    def __init__(self, modules: Iterable[str], directory: Path, *, require: bool = False) -> None:
        self.modules = frozenset(modules)
        self.directory = directory
        self.require = require
        # top-level package's directory -> its modules' twins and those without one (`twins`)
        self._packages: dict[Path, tuple[dict[str, Path], list[str]]] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: Any = None) -> Any:
        if fullname not in self.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            return None
        package = Path(spec.origin).parents[fullname.count(".") - 1]  # the top-level package's directory
        if package not in self._packages:
            mine = [name for name in self.modules if name.split(".")[0] == package.name]
            self._packages[package] = twins(mine, package.parent, self.directory)
        found, stale = self._packages[package]
        # All or none: the twins cimport each other's types (the line's records, the engine's
        # line), so a twin beside the edited source of a module it was compiled against would
        # not load (a type's size changed, or worse): one module edited since the build, and the
        # whole package runs from its source.
        if stale or fullname not in found:
            if self.require:
                raise ImportError(
                    f"{fullname}: no compiled twin of its source in {self.directory} "
                    f"(ACD_COMPILED=require; not up to date: {', '.join(stale)}): run `acd compile`",
                    name=fullname,
                )
            return None
        compiled = found[fullname]
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(compiled))
        return importlib.util.spec_from_file_location(fullname, compiled, loader=loader)


def install(modules: Iterable[str] = HOT, directory: Path | None = None) -> CompiledFinder | None:
    """Put the finder first on `sys.meta_path` (once), unless ACD_COMPILED=0 or nothing was ever
    built (any value but `0`, `1` and `require` is refused at start-up by acd/settings.py)."""
    mode = os.environ.get("ACD_COMPILED", "1").strip()
    if mode == "0":
        return None
    for finder in sys.meta_path:
        if isinstance(finder, CompiledFinder):
            return finder
    directory = directory or cache_dir()
    if mode != "require" and not directory.is_dir():  # nothing built: no source read and hashed
        return None  # at each hot import (`acd compile` installs it once it has built)
    finder = CompiledFinder(modules, directory, require=mode == "require")
    sys.meta_path.insert(0, finder)
    return finder


def ready(modules: Iterable[str] = HOT, root: Path | None = None) -> bool:
    """Whether the hot modules will run compiled in a process started now with this environment:
    not ACD_COMPILED=0, and each one's up-to-date twin built."""
    if os.environ.get("ACD_COMPILED", "1").strip() == "0":
        return False
    return not twins(modules, root or PACKAGE.parent, cache_dir())[1]


def twins(modules: Iterable[str], root: Path, directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Each module's up-to-date twin in `directory`, and the modules without one (never built, or
    their source or a declaration of their package changed since); a module with no source under
    `root` is in neither. Each package's declarations are read once."""
    packed: dict[str, bytes] = {}
    found: dict[str, Path] = {}
    stale: list[str] = []
    for name in sorted(modules):
        source = (root / Path(*name.split("."))).with_suffix(".py")
        if not source.is_file():
            continue
        top = name.split(".")[0]
        if top not in packed:
            packed[top] = declared(root / top)
        twin = compiled_path(name, source.read_bytes(), directory, packed[top])
        if twin.is_file():
            found[name] = twin
        else:
            stale.append(name)
    return found, stale


def active() -> dict[str, bool]:
    """For each hot module imported so far, whether it runs compiled."""
    loaded = (sys.modules[name] for name in HOT if name in sys.modules)
    return {module.__name__: getattr(module, "__file__", "").endswith(SUFFIX) for module in loaded}


def build(
    modules: Iterable[str] = HOT,
    *,
    root: Path | None = None,
    directory: Path | None = None,
    jobs: int | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Compile each module of `modules` (its source under `root`, the directory holding the
    package) whose up-to-date twin is not in `directory` yet; remove its stale twins. Returns what
    it built, what was up to date, and how long it took."""
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
    except ImportError as exc:  # pragma: no cover - what the message says
        raise RuntimeError(
            "compiling needs Cython and setuptools: pip install -e '.[fast]' (and a C compiler)"
        ) from exc
    started = time.perf_counter()
    root = root or PACKAGE.parent
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[str, bytes, Path]] = []
    fresh: list[str] = []
    packages = {name.split(".")[0] for name in modules}
    pxds = {top: declarations(root / top) for top in packages}  # read once: the bytes digested
    packed = {top: declared(root / top, pxds[top]) for top in packages}
    for name in modules:
        source = (root / Path(*name.split("."))).with_suffix(".py").read_bytes()
        target = compiled_path(name, source, directory, packed[name.split(".")[0]])
        if target.is_file():
            fresh.append(name)
        else:
            todo.append((name, source, target))
    if todo:
        with tempfile.TemporaryDirectory(prefix="acd-compile-") as tmp_name:
            tmp = Path(tmp_name)
            extensions = []
            for name, source, _ in todo:
                # the bytes digested, whatever happens to the tree meanwhile, in the package's layout
                copy = _place(tmp / "src", Path(*name.split(".")).with_suffix(".py"), source)
                extensions.append(Extension(name, [str(copy)]))
            for texts in pxds.values():  # the declarations digested, beside the copies
                for relative, text in texts.items():
                    _place(tmp / "src", Path(relative), text)
            if log:
                log(f"compiling {len(todo)} module(s) with Cython ({len(fresh)} up to date)")
            dist = Distribution(
                {
                    "ext_modules": cythonize(
                        extensions,
                        build_dir=str(tmp / "c"),
                        compiler_directives=DIRECTIVES,
                        nthreads=jobs or os.cpu_count() or 1,
                        quiet=True,
                    )
                }
            )
            command = dist.get_command_obj("build_ext")
            command.build_lib = str(tmp / "lib")  # type: ignore[attr-defined]
            command.build_temp = str(tmp / "tmp")  # type: ignore[attr-defined]
            command.parallel = jobs or os.cpu_count() or 1  # type: ignore[attr-defined]
            dist.run_command("build_ext")
            for name, _, target in todo:
                built = tmp / "lib" / Path(*name.split(".")).with_suffix(SUFFIX)
                for stale in directory.glob(f"{name}.*{SUFFIX}"):
                    stale.unlink()
                partial = target.with_name(target.name + ".part")
                shutil.copyfile(built, partial)
                partial.replace(target)  # whole or absent: an import never sees half a file
    return {
        "built": [name for name, _, _ in todo],
        "up_to_date": fresh,
        "directory": str(directory),
        "seconds": round(time.perf_counter() - started, 1),
    }
