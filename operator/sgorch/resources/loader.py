"""Reading and writing resource files.

YAML is composed into nodes with ruamel.yaml and turned into plain data by our own
walker, which remembers the line and column of every key and value (so each error names
its place), accepts only the standard YAML tags (no object construction), rejects
duplicate keys, and bounds file size and alias expansion (a "billion laughs" file
cannot exhaust memory). Validation errors from pydantic are mapped back to those places.
"""

from __future__ import annotations

import difflib
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.representer import SafeRepresenter

from sgorch.errors import ErrorLocation
from sgorch.resources import models
from sgorch.resources.models import Deployment, Router

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Document",
    "DocumentResult",
    "FileResult",
    "LocatedError",
    "YamlProblem",
    "dump_resources",
    "find_duplicate_names",
    "iter_resource_files",
    "load_file",
    "load_text",
    "locate_errors",
    "parse_yaml",
]

MAX_FILE_BYTES = 1024 * 1024
"""Largest resource file accepted; real resources are a few KiB."""
MAX_NODES = 100_000
"""Largest number of YAML nodes (after alias expansion) in one file."""

KINDS: dict[str, type[Deployment] | type[Router]] = {"Deployment": Deployment, "Router": Router}

LocatedError = tuple[ErrorLocation, str]
Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"


@dataclass(frozen=True)
class DocumentResult:
    """One YAML document of a file: its resource, or the located errors that kept it
    from being one (``kind``/``name`` are filled whenever they could be read, so the
    error can be attributed to the resource the document meant to define)."""

    file: str
    line: int
    kind: str | None
    name: str | None
    resource: Deployment | Router | None
    errors: tuple[LocatedError, ...] = ()


@dataclass(frozen=True)
class FileResult:
    """Everything read from one file; ``errors`` are file-level (unreadable, syntax)."""

    file: str
    documents: tuple[DocumentResult, ...] = ()
    errors: tuple[LocatedError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and all(not d.errors for d in self.documents)

    def all_errors(self) -> list[LocatedError]:
        return [*self.errors, *(e for d in self.documents for e in d.errors)]


class YamlProblem(Exception):
    """A file is not usable YAML (syntax, tags, size); line and column are 1-based."""

    def __init__(self, line: int | None, column: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


@dataclass
class Document:
    """One YAML document as plain data, with the place of every key and value."""

    data: Any
    line: int
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Walker:
    """Turns composed nodes into plain data while recording where each path came from."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0

    def build(self, node: Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            line, column = _mark(node)
            raise YamlProblem(
                line, column, f"document too large: more than {MAX_NODES} nodes after aliases"
            )
        self.doc.value_marks.setdefault(path, _mark(node))
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if isinstance(node, SequenceNode):
            _require_tag(node, "seq")
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            _require_tag(node, "map")
            return self._mapping(node, path)
        raise YamlProblem(*_mark(node), f"unsupported YAML node {type(node).__name__}")

    def _mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if str(key_node.tag) == _TAG + "merge":
                merged.update(self._merge_source(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(*_mark(key_node), "mapping keys must be plain strings")
            key = key_node.value
            if key in result:
                raise YamlProblem(
                    *_mark(key_node),
                    f"duplicate key {key!r} (first at line {self.doc.key_marks[(*path, key)][0]})",
                )
            self.doc.key_marks[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_source(self, node: Node, path: Path_) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                raise YamlProblem(*_mark(source), "'<<' must merge a mapping or a list of them")
            merged.update(self._mapping(source, path))
        return merged


def _require_tag(node: Node, name: str) -> None:
    if str(node.tag) != _TAG + name:
        raise YamlProblem(*_mark(node), f"unsupported YAML tag {node.tag}")


def _scalar(node: ScalarNode) -> Any:
    tag = str(node.tag)
    value: str = node.value
    if tag in (_TAG + "str", _TAG + "timestamp", _TAG + "binary"):
        return value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return value.lower() in {"true", "yes", "on"}
    if tag == _TAG + "int":
        text = value.replace("_", "")
        if text.lower().lstrip("+-").startswith(("0x", "0o", "0b")):
            return int(text, 0)
        return int(text, 10)
    if tag == _TAG + "float":
        lowered = value.lower().replace("_", "")
        if lowered in {".nan"}:
            return math.nan
        if lowered.lstrip("+-") == ".inf":
            return -math.inf if lowered.startswith("-") else math.inf
        return float(lowered)
    raise YamlProblem(
        *_mark(node),
        f"unsupported YAML tag {tag}; resource files use plain strings, numbers, "
        "booleans, lists and mappings",
    )


def parse_yaml(text: str) -> list[Document]:
    """Compose every document of ``text`` and build plain data with locations."""
    yaml = YAML(typ="safe", pure=True)
    documents: list[Document] = []
    try:
        for node in yaml.compose_all(io.StringIO(text)):
            if node is None or (isinstance(node, ScalarNode) and str(node.tag) == _TAG + "null"):
                continue  # an empty document ("---" alone) defines nothing
            doc = Document(data=None, line=node.start_mark.line + 1)
            doc.data = _Walker(doc).build(node, ())
            documents.append(doc)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise YamlProblem(line, column, f"YAML syntax error: {exc.problem or exc}") from exc
    except YAMLError as exc:
        raise YamlProblem(None, None, f"YAML error: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise YamlProblem(None, None, f"YAML error: {exc}") from exc
    return documents


def load_text(text: str, file: str) -> FileResult:
    """Load every resource in ``text`` (a whole file's content) named ``file``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return FileResult(
            file, errors=((ErrorLocation(file), f"file larger than {MAX_FILE_BYTES} bytes"),)
        )
    try:
        documents = parse_yaml(text)
    except YamlProblem as exc:
        return FileResult(file, errors=((ErrorLocation(file, exc.line, exc.column), exc.message),))
    return FileResult(file, documents=tuple(_load_document(doc, file) for doc in documents))


def load_file(path: Path) -> FileResult:
    """Read and load one file; unreadable or non-UTF-8 files give a file-level error."""
    file = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return FileResult(
                file, errors=((ErrorLocation(file), f"file larger than {MAX_FILE_BYTES} bytes"),)
            )
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return FileResult(
            file, errors=((ErrorLocation(file), f"not UTF-8 text (byte {exc.start})"),)
        )
    except OSError as exc:
        return FileResult(file, errors=((ErrorLocation(file), f"cannot read: {exc.strerror}"),))
    return load_text(text, file)


def iter_resource_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named ``*.yaml``/``*.yml`` under each path (recursively, sorted, hidden
    files and editor backups skipped); a file path is yielded as given."""
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if candidate.suffix in {".yaml", ".yml"} and candidate.is_file():
                    yield candidate
        else:
            yield path


def _load_document(doc: Document, file: str) -> DocumentResult:
    data = doc.data
    if not isinstance(data, dict):
        return DocumentResult(
            file,
            doc.line,
            None,
            None,
            None,
            (
                (
                    ErrorLocation(file, doc.line, 1),
                    "a resource must be a mapping with apiVersion, kind, metadata and spec",
                ),
            ),
        )
    kind = data.get("kind") if isinstance(data.get("kind"), str) else None
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    name = name if isinstance(name, str) else None
    model = KINDS.get(kind) if kind else None
    if model is None:
        place = _locate(doc, ("kind",), file)
        message = (
            "missing 'kind'" if "kind" not in data else f"unknown kind {data['kind']!r}"
        ) + "; use kind: Deployment or kind: Router"
        return DocumentResult(file, doc.line, kind, name, None, ((place, message),))
    try:
        resource = model.model_validate(data)
    except ValidationError as exc:
        return DocumentResult(file, doc.line, kind, name, None, locate_errors(exc, doc, file))
    return DocumentResult(file, doc.line, kind, resource.name, resource)


def locate_errors(exc: ValidationError, doc: Document, file: str) -> tuple[LocatedError, ...]:
    """Every error of ``exc`` with its place in ``doc``, in file order."""
    located = (_translate(err, doc, file) for err in exc.errors(include_url=False))
    return tuple(sorted(located, key=lambda e: (e[0].line or 0, e[0].column or 0)))


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[Path_, str | int | None]:
    """Map a pydantic error location onto the data: returns the deepest existing path
    and, when the last element does not exist (a missing field), that element."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
            path.append(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path.append(part)
        elif index == len(loc) - 1:
            return tuple(path), part
        # otherwise a union tag or a validator step: not part of the data
    return tuple(path), None


def _format_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _locate(doc: Document, path: Path_, file: str, *, key: bool = False) -> ErrorLocation:
    probe = path
    while True:
        marks = doc.key_marks if key else doc.value_marks
        mark = marks.get(probe) or doc.key_marks.get(probe) or doc.value_marks.get(probe)
        if mark or not probe:
            line, column = mark or (doc.line, 1)
            return ErrorLocation(file, line, column, _format_path(path) or None)
        probe = probe[:-1]


def _translate(err: Any, doc: Document, file: str) -> LocatedError:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    path, missing = _data_path(loc, doc.data)
    kind = err["type"]
    if kind == "extra_forbidden":
        place = _locate(doc, path, file, key=True)
        return place, _unknown_field_message(str(path[-1]) if path else "")
    if kind == "missing" and missing is not None:
        place = _locate(doc, path, file)
        place = ErrorLocation(place.file, place.line, place.column, _format_path((*path, missing)))
        return place, "required field is missing"
    if kind == "union_tag_not_found":
        place = _locate(doc, path, file)
        return place, "missing 'type': one of sglang, tei, vllm, command"
    message = str(err["msg"]).removeprefix("Value error, ")
    return _locate(doc, path, file), message


def _known_fields() -> set[str]:
    names: set[str] = set()
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            for name, info in value.model_fields.items():
                names.add(info.alias or name)
    return names


_KNOWN_FIELDS = _known_fields()


def _unknown_field_message(key: str) -> str:
    close = difflib.get_close_matches(key, sorted(_KNOWN_FIELDS), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else "; remove it or check the spelling"
    return f"unknown field {key!r}{hint}"


def find_duplicate_names(results: Iterable[FileResult]) -> list[LocatedError]:
    """Every (kind, name) defined more than once, across all files: one error per
    extra definition, pointing at it and naming the first."""
    seen: dict[tuple[str, str], DocumentResult] = {}
    errors: list[LocatedError] = []
    for result in results:
        for doc in result.documents:
            if doc.kind is None or doc.name is None:
                continue
            first = seen.setdefault((doc.kind, doc.name), doc)
            if first is not doc:
                errors.append(
                    (
                        ErrorLocation(doc.file, doc.line, 1, "metadata.name"),
                        f"{doc.kind} {doc.name!r} is already defined at {first.file}:{first.line}",
                    )
                )
    return errors


class _Representer(SafeRepresenter):
    """ruamel.yaml writes NEL (U+0085) raw in single quotes, where a reader folds it into
    a space: such strings go double-quoted, where NEL is escaped as \\N."""

    def represent_str(self, data: str) -> ScalarNode:
        if "\x85" in data:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        node: ScalarNode = super().represent_str(data)
        return node


_Representer.add_representer(str, _Representer.represent_str)


def dump_resources(resources: Iterable[Deployment | Router]) -> str:
    """YAML text of ``resources`` (one document each, defaults left out), such that
    loading it gives the same resources back."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    stream = io.StringIO()
    yaml.dump_all([_ordered(r) for r in resources], stream)
    return stream.getvalue()


def _ordered(resource: Deployment | Router) -> dict[str, Any]:
    """The resource as data in the order people write it (kind first, type first)."""
    data = resource.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    spec = data.get("spec", {})
    if "backend" in spec:
        backend = spec["backend"]
        spec["backend"] = {"type": backend.pop("type"), **backend}
    head = {key: data.pop(key) for key in ("apiVersion", "kind", "metadata")}
    return {**head, **data}
