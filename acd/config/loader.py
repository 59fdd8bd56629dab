"""Reading `config/`: the table of files, YAML composed with the line of every node, pydantic's
errors mapped back to the file and the line (see `acd.config`)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ValidationError

from acd.config.errors import ConfigError, KeyPath, _Located, format_path
from acd.config.model import Config


@dataclass(frozen=True, slots=True)
class Section:
    """A file of the config directory and the `Config` section it holds under the same key."""

    file: str
    key: str
    required: bool


#: The files of the config directory, in loading order. Add a row (and a `Config` field) per section.
FILES: tuple[Section, ...] = (
    Section("sites.yaml", "sites", required=True),
    Section("skills.yaml", "skills", required=True),
    Section("calendar.yaml", "calendar", required=False),
    Section("services.yaml", "services", required=False),
    Section("overflow.yaml", "overflow", required=False),
    Section("callbacks.yaml", "callbacks", required=False),
    Section("appointments.yaml", "appointments", required=False),
    Section("routing.yaml", "routing", required=False),
    Section("records.yaml", "records", required=False),
    Section("agents.yaml", "agents", required=True),
)

_STR_TAG = "tag:yaml.org,2002:str"
#: The most values (mappings, lists, scalars) one YAML document may build: far above the shipped
#: files' (a roster of 800 agents is some 10,000), far below what fills memory.
MAX_VALUES = 2_000_000
#: The deepest a document may nest (aliases of aliases nest a level each): far below Python's stack.
MAX_DEPTH = 200
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # type: ignore[assignment]


class ComposedYaml:
    """The Python data of one YAML document and the 1-based start line of each node by path."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        loader = _Loader(text)
        try:
            try:
                node = loader.get_single_node()
            except yaml.MarkedYAMLError as e:
                mark = e.problem_mark or e.context_mark
                what = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
                raise ConfigError(
                    file, mark.line + 1 if mark else None, f"YAML syntax error: {what}"
                ) from None
            except yaml.YAMLError as e:
                raise ConfigError(file, None, f"YAML error: {e}") from None
            self._loader = loader
            self._values = 0
            self._open: set[int] = set()  # the nodes being built: one met again holds itself
            self.data = None if node is None else self._build(node, ())
        finally:
            loader.dispose()

    def _build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._values += 1
        if self._values > MAX_VALUES:  # aliases of aliases ("billion laughs") expand without end
            raise ConfigError(
                self.file,
                node.start_mark.line + 1,
                f"{format_path(path) or '<root>'}: the document expands to more than {MAX_VALUES:,} "
                "values (aliases of aliases?)",
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self._open:  # `&x [*x]`: an alias inside its own anchor
                raise ConfigError(
                    self.file,
                    node.start_mark.line + 1,
                    f"{format_path(path) or '<root>'}: an alias inside its own anchor: "
                    "the value would hold itself without end",
                )
            if len(self._open) >= MAX_DEPTH:
                raise ConfigError(
                    self.file,
                    node.start_mark.line + 1,
                    f"{format_path(path)}: nests more than {MAX_DEPTH} deep (aliases of aliases?)",
                )
            self._open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self._open.discard(id(node))
        return self._scalar(node, path)

    def _collection(self, node: yaml.MappingNode | yaml.SequenceNode, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            try:
                self._loader.flatten_mapping(node)  # merge keys (<<: *anchor)
            except yaml.MarkedYAMLError as e:
                raise ConfigError(
                    self.file, node.start_mark.line + 1, f"{format_path(path)}: {e.problem}"
                ) from None
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node, path)
                line = key_node.start_mark.line + 1
                if key in out:
                    where = format_path((*path, key))
                    raise ConfigError(self.file, line, f"{where}: duplicate key {key!r}")
                self.lines[(*path, key)] = line
                out[key] = self._build(value_node, (*path, key))
            return out
        return [self._build(item, (*path, i)) for i, item in enumerate(node.value)]

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError(
                self.file,
                node.start_mark.line + 1,
                f"{format_path(path) or '<root>'}: complex keys are not supported",
            )
        if node.tag == _STR_TAG:  # the common case, without the constructor's bookkeeping
            return node.value
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            raise ConfigError(self.file, node.start_mark.line + 1, f"{format_path(path)}: {e}") from None


def _read(path: Path, file: str) -> ComposedYaml:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(file, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(file, None, f"cannot read: {e.strerror or e}") from None
    return ComposedYaml(file, text)


def load_config(config_dir: str | Path) -> Config:
    """Read and validate the configuration in `config_dir`; raise `ConfigError` on any problem."""
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(str(config_dir), None, "config directory not found")
    data: dict[str, Any] = {}
    files: dict[str, ComposedYaml] = {}
    for section in FILES:
        path = config_dir / section.file
        file = str(path)
        if not path.exists():
            if section.required:
                raise ConfigError(
                    file, None, f"required file is missing (it holds the {section.key!r} section)"
                )
            continue
        doc = _read(path, file)
        files[section.key] = doc
        if doc.data is None:  # empty, or only comments
            if section.required:
                raise ConfigError(
                    file, 1, f"the file is empty: it must hold a mapping with the key '{section.key}:'"
                )
            continue
        if not isinstance(doc.data, dict):
            raise ConfigError(file, doc.lines.get((), 1), f"expected a mapping with the key '{section.key}:'")
        for key in doc.data:
            if key != section.key:
                raise ConfigError(
                    file,
                    doc.lines.get((key,)),
                    f"unknown top-level key {key!r}: this file holds only '{section.key}:'",
                )
        if section.key not in doc.data:
            raise ConfigError(file, 1, f"missing the top-level key '{section.key}:'")
        value = doc.data[section.key]
        if value is None and not section.required:  # `routing:` with every key commented out
            continue
        data[section.key] = value
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise _to_config_error(e, files, config_dir) from None


def _to_config_error(
    exc: ValidationError, files: Mapping[str, ComposedYaml], config_dir: Path
) -> ConfigError:
    issues: list[tuple[str, int | None, str]] = []
    # an unknown key first: a misspelt key also makes the right one "missing", and the typo is the news
    for err in sorted(exc.errors(), key=lambda err: err["type"] == "missing"):
        loc: KeyPath = tuple(err["loc"])
        located = (err.get("ctx") or {}).get("error")
        if isinstance(located, _Located):
            pairs = [((*loc, *p), m) for p, m in located.issues]
        elif err["type"] == "extra_forbidden":
            pairs = [(loc, f"unknown key {loc[-1]!r}{_key_hint(loc)}")]
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = f"missing key {loc[-1]!r}" if loc else msg
            pairs = [(loc, msg)]
        for path, msg in pairs:
            section = str(path[0]) if path else ""
            doc = files.get(section)
            if doc is None:  # should not happen: every section comes from a file
                file = str(config_dir / next((s.file for s in FILES if s.key == section), "?"))
                issues.append((file, None, f"{format_path(path)}: {msg}"))
                continue
            line = None
            for n in range(len(path), -1, -1):
                line = doc.lines.get(path[:n])
                if line is not None:
                    break
            issues.append((doc.file, line, f"{format_path(path)}: {msg}" if path else msg))
    first = issues[0]
    return ConfigError(*first, issues=issues)


def _key_hint(loc: KeyPath) -> str:
    """' (expected one of: ...; did you mean ...?)' for an unknown key at `loc`, when the model is found."""
    fields = _fields_at(Config, loc[:-1])
    if not fields:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f" (expected one of: {', '.join(fields)}{hint})"


def _fields_at(tp: Any, path: KeyPath) -> list[str]:
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp
