"""Cython's declarations where Cython is absent: `cython.locals` and `cython.compiled`, as
Cython's own pure-Python shadow module gives them (no-ops), for a module that declares the types
of its hot locals (docs/performance.md, fourteenth round). A module writes

    try:
        import cython
    except ImportError:  # no Cython installed: the declarations are no-ops (acd/typing_c.py)
        from acd import typing_c as cython

Compiled by `acd compile`, `import cython` is Cython's own and the declarations type the locals
(records read at fixed offsets, acd/engine/records.pxd); from the source, with or without Cython
installed, they change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

compiled = False


def locals(**types: Any) -> Callable[[F], F]:  # Cython's name
    def keep(function: F) -> F:
        return function

    return keep
