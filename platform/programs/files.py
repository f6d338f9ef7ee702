"""Reading program files: a size cap, UTF-8, and YAML without aliases or duplicate keys, with line numbers."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "LinedDict",
    "ProgramFileReadError",
    "line_of",
    "program_file_parse",
    "program_file_read",
]

MAX_FILE_BYTES = 2 * 1024 * 1024
# A program file is about six levels deep; PyYAML composes recursively, so a file of nothing but "[[[["
# would otherwise end in a RecursionError.
MAX_DEPTH = 64


class ProgramFileReadError(ValueError):
    """A file that cannot be read as a program file's YAML; the message names the file, and the line if known."""

    def __init__(self, source: str, reason: str, *, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        super().__init__(f"{source}:{line}: {reason}" if line else f"{source}: {reason}")


class LinedDict(dict):
    """A YAML mapping that remembers the line it starts on and the line of each of its keys."""

    __slots__ = ("key_lines", "line")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.key_lines: dict[Hashable, int] = {}


def line_of(mapping: object, key: str | None = None) -> int | None:
    """The line of ``key`` in a mapping read from a file (else the mapping's own line); None for a plain dict."""
    if not isinstance(mapping, LinedDict):
        return None
    if key is not None and key in mapping.key_lines:
        return mapping.key_lines[key]
    return mapping.line


class _Refused(yaml.YAMLError):
    def __init__(self, node_or_event: Any, reason: str) -> None:
        self.line = node_or_event.start_mark.line + 1
        self.reason = reason
        super().__init__(reason)


class _ProgramLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases, duplicate keys and deep nesting while composing.

    Refusing an alias before the Python object is built is what stops a "billion laughs" file: a few
    kilobytes of nested aliases otherwise expand into hundreds of megabytes.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                event,
                f"YAML alias '*{event.anchor}' is not allowed in a program file; write the value out in full",
            )
        if getattr(event, "anchor", None) is not None:
            raise _Refused(
                event,
                f"YAML anchor '&{event.anchor}' is not allowed in a program file; write the value out in full",
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(event, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            # A date such as 2027-13-45 or an integer of 5,000 digits fails in Python, not in YAML.
            shown = node.value if len(str(node.value)) <= 40 else f"{str(node.value)[:40]}..."
            raise _Refused(node, f"{shown!r} cannot be read: {exc}") from exc


def _construct_mapping(loader: _ProgramLoader, node: MappingNode) -> Iterator[LinedDict]:
    data = LinedDict()
    data.line = node.start_mark.line + 1
    yield data
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=False)
        if not isinstance(key, Hashable):
            raise ConstructorError(
                "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
            )
        line = key_node.start_mark.line + 1
        if key in data.key_lines:
            # YAML would keep the last one silently; in a program file that hides an edit.
            raise _Refused(
                key_node, f"key '{key}' is given twice in one mapping (first on line {data.key_lines[key]})"
            )
        data.key_lines[key] = line
        data[key] = loader.construct_object(value_node, deep=False)


_ProgramLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def program_file_parse(text: str, *, source: str) -> Any:
    """The data of a program file's text; mappings are LinedDicts so problems can name their line."""
    loader = _ProgramLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise ProgramFileReadError(source, exc.reason, line=exc.line) from None
    except yaml.YAMLError as exc:
        raise ProgramFileReadError(source, f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def program_file_read(path: Path) -> Any:
    """Read and parse a program file, refusing a file over MAX_FILE_BYTES before reading it."""
    source = str(path)
    if not path.is_file():
        raise ProgramFileReadError(source, "no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ProgramFileReadError(
            source, f"{size} bytes is more than a program file may hold ({MAX_FILE_BYTES} bytes)"
        )
    try:
        with path.open("rb") as stream:
            # Bounded even if the file grew after stat().
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ProgramFileReadError(source, f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ProgramFileReadError(source, f"more than a program file may hold ({MAX_FILE_BYTES} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProgramFileReadError(source, f"not UTF-8 text: {exc}") from exc
    return program_file_parse(text, source=source)
