"""The replay's decoder of logged events: msgspec structs that mirror the event models.

A log entry's events were validated by the pydantic models when first applied, and the log holds
their own dump (`EVENTS.dump_json`), so a replay under the same configuration and release needs
their values, not their validation. Decoding them into pydantic models again cost about a sixth
of a recovery (py-spy, docs/performance.md); msgspec decodes the same JSON into plain frozen
structs three to four times faster. The structs are made from the models themselves (each
model's fields, in order, with their defaults and their types without constraints) and carry the
model's `type` as a class attribute, which is all the engine's handlers read of an event
besides its fields.

Only for a trusted replay of an entry that carries its events' digests (`Engine.apply(digests=)`):
nothing then asks a struct for the model's serializer. `decode` returns None when the JSON does
not fit the mirrors (a field an earlier release did not write, an event type it did not know):
the caller then decodes with the models, as before.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from pydantic import AwareDatetime

from acd.events import InternalUnion, PlatformUnion

_NONE = type(None)


def _plain(annotation: Any) -> Any:
    """A model field's type as msgspec reads it: constraints and validators left out (the values
    were validated when first applied), pydantic's `AwareDatetime` as a `datetime`."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _plain(typing.get_args(annotation)[0])
    if annotation is AwareDatetime:
        return datetime
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_plain(a) for a in typing.get_args(annotation))]  # noqa: UP007
    if origin is list:
        return list[_plain(typing.get_args(annotation)[0])]  # type: ignore[misc]
    if origin is dict:
        key, value = typing.get_args(annotation)
        return dict[_plain(key), _plain(value)]  # type: ignore[misc]
    if origin is Literal or annotation in (str, int, float, bool, _NONE):
        return annotation
    raise TypeError(f"no mirror for the field type {annotation!r}")


def _mirror(model: type) -> type:
    """A frozen msgspec struct with the model's fields, tagged by its `type` (kept as a class
    attribute: `event.type` is how the engine dispatches)."""
    fields = model.model_fields  # type: ignore[attr-defined]
    tag = typing.get_args(fields["type"].annotation)[0]
    specs: list[tuple[str, Any, Any]] = []
    for name, field in fields.items():
        if name == "type":
            continue
        kind = _plain(field.annotation)
        if field.is_required():
            specs.append((name, kind, msgspec.NODEFAULT))
        elif field.default_factory is not None:
            specs.append((name, kind, msgspec.field(default_factory=field.default_factory)))
        else:
            specs.append((name, kind, field.default))
    # msgspec wants the fields without defaults first: the JSON names each field, so order only
    # matters to the constructor, which nothing calls
    specs.sort(key=lambda spec: spec[2] is not msgspec.NODEFAULT)
    struct = msgspec.defstruct(
        model.__name__,
        [(n, t) if d is msgspec.NODEFAULT else (n, t, d) for n, t, d in specs],
        frozen=True,
        tag_field="type",
        tag=tag,
        forbid_unknown_fields=True,
        namespace={"type": tag, "__annotations__": {"type": ClassVar[str]}},
    )
    return struct


MIRRORS: dict[str, type] = {}
for _model in typing.get_args(PlatformUnion | InternalUnion):
    _struct = _mirror(_model)
    MIRRORS[_struct.type] = _struct  # type: ignore[attr-defined]

_DECODER = msgspec.json.Decoder(list[typing.Union[tuple(MIRRORS.values())]])  # type: ignore[misc]  # noqa: UP007


def decode(raw: bytes) -> list[Any] | None:
    """A logged entry's events as structs, or None when they do not fit the mirrors."""
    try:
        return _DECODER.decode(raw)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
