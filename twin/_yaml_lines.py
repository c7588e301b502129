"""Read YAML or JSON text and remember the line of every item.

The factory loader reports errors as ``factory.yaml:41: meter 'M7': ...``. To
know the 41 it needs, for each item of the parsed document, the line it started
on. :func:`read_with_lines` returns the plain data plus a map from *path* (the
tuple of mapping keys and sequence indexes leading to a value, the same shape as
a pydantic error ``loc``) to its 1-based line.

The YAML dialect is YAML 1.1 as PyYAML reads it, with two YAML 1.2 corrections
that matter in factory files: ``off:`` / ``on:`` / ``yes`` / ``no`` are plain
strings, not booleans (``off`` is a power state), and ``06:00`` is the string
"06:00", not the base-60 integer 360 (it is a shift start).

A document may nest at most :data:`MAX_DEPTH` levels, and its YAML aliases
may repeat at most :data:`MAX_ALIAS_NODES` nodes in all: a few hundred bytes of
nested aliases (a "billion laughs" document) or a body nested thousands deep is
refused with a :class:`SourceError` before it costs memory or the stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "Path",
    "SourceError",
    "dump_yaml",
    "line_of",
    "read_with_lines",
]

#: Deepest nesting of mappings and sequences a document may have.
MAX_DEPTH = 64
#: Most nodes that a document's aliases (``*name``) may repeat, counted over every
#: use (a ``<<: *defaults`` in each of 500 machines repeats a few thousand).
MAX_ALIAS_NODES = 20_000

#: A location inside a document: mapping keys and sequence indexes.
Path = tuple[str | int, ...]

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


class _Loader(_Base):  # type: ignore[misc]
    """SafeLoader with YAML 1.2 booleans and without base-60 numbers."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*|[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """SafeDumper that quotes every string either reader could take for another type."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a written factory file spells every value out, no &anchors


_Dumper.yaml_implicit_resolvers = {
    first: list(yaml.SafeDumper.yaml_implicit_resolvers.get(first, []))
    + list(_Loader.yaml_implicit_resolvers.get(first, []))
    for first in set(yaml.SafeDumper.yaml_implicit_resolvers) | set(_Loader.yaml_implicit_resolvers)
}


def dump_yaml(data: Any) -> str:
    """``data`` as block YAML, keys in insertion order, readable by :func:`read_with_lines`."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


class SourceError(ValueError):
    """The text is not well-formed YAML/JSON; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_MERGE = "tag:yaml.org,2002:merge"


def _walk(node: yaml.Node, path: Path, found: _Found, active: set[int]) -> None:
    if id(node) in active:  # a recursive alias: its lines are known already
        return
    if id(node) in found.seen:  # reached again through an alias
        found.repeated += 1
        if found.repeated > MAX_ALIAS_NODES:
            msg = (
                f"the document's aliases (*name) repeat more than {MAX_ALIAS_NODES:,} values; "
                "spell the values out or use fewer aliases"
            )
            raise SourceError(msg, node.start_mark.line + 1)
    else:
        found.seen.add(id(node))
    found.lines.setdefault(path, node.start_mark.line + 1)
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        _walk_mapping(node, path, found, active, set(), own=True)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), found, active)
    active.discard(id(node))


def _walk_mapping(
    node: yaml.MappingNode, path: Path, found: _Found, active: set[int], seen: set[str], own: bool
) -> None:
    """Keys of ``node`` and of what it merges (``<<: *defaults``); own keys win."""
    merges: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.tag == _MERGE:
            merges.append(value_node)
            continue
        key = str(key_node.value)
        child = (*path, key)
        if key in seen:
            if own:
                found.dups.append((child, key_node.start_mark.line + 1))
            continue
        seen.add(key)
        # the key's line: where a nested block for this field starts
        found.lines[child] = key_node.start_mark.line + 1
        _walk(value_node, child, found, active)
    for merged in merges:
        sources = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
        for source in sources:
            if isinstance(source, yaml.MappingNode) and id(source) not in active:
                active.add(id(source))
                _walk_mapping(source, path, found, active, seen, own=False)
                active.discard(id(source))


class _Found:
    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.dups: list[tuple[Path, int]] = []
        self.seen: set[int] = set()
        self.repeated = 0


_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _too_deep(line: int | None) -> SourceError:
    msg = f"the document nests deeper than {MAX_DEPTH} levels"
    return SourceError(msg, line)


def _check_yaml_depth(text: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` from the event stream (no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise _too_deep(mark.line + 1 if mark is not None else None)
        elif isinstance(event, _CLOSE):
            depth -= 1


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _check_json_depth(text: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH` before :func:`json.loads` recurses."""
    depth = 0
    bare = _JSON_STRING.sub('""', text)
    for m in _JSON_BRACKET.finditer(bare):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            # JSON strings hold no raw line breaks, so lines are the text's own
            raise _too_deep(bare.count("\n", 0, m.start()) + 1)


def _yaml(text: str) -> tuple[Any, dict[Path, int], list[tuple[Path, int]]]:
    _check_yaml_depth(text)
    loader = _Loader(text)
    found = _Found()
    try:
        node = loader.get_single_node()
        if node is None:
            return None, found.lines, found.dups
        # walk first: constructing flattens merge keys into the mapping nodes
        _walk(node, (), found, set())
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return data, found.lines, found.dups


def read_with_lines(text: str, fmt: str) -> tuple[Any, dict[Path, int], list[tuple[Path, int]]]:
    """Parse ``text`` and map every item's path to its line.

    Parameters
    ----------
    text : str
        The document.
    fmt : str
        ``"yaml"`` or ``"json"``. JSON is parsed by :mod:`json`; its lines are
        recovered by reading the same text as YAML (JSON is nearly a subset),
        and are left out where that fails.

    Returns
    -------
    data, lines, duplicate_keys
        The plain data, ``{path: line}``, and ``[(path, line)]`` of mapping keys
        given twice (YAML and JSON parsers silently keep the last one).

    Raises
    ------
    SourceError
        If the text is not well-formed.
    """
    if fmt == "json":
        _check_json_depth(text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"not valid JSON: {exc.msg} (column {exc.colno})"
            raise SourceError(msg, exc.lineno) from None
        try:
            _, lines, dups = _yaml(text)
        except (yaml.YAMLError, SourceError):
            lines, dups = {}, []
        return data, lines, dups
    try:
        return _yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = f"not valid YAML: {exc.problem or exc.context}"
        raise SourceError(msg, line) from None
    except yaml.YAMLError as exc:
        msg = f"not valid YAML: {exc}"
        raise SourceError(msg, None) from None


def line_of(lines: Mapping[Path, int], path: Path) -> int | None:
    """Line of ``path``, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None
