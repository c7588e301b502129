"""Browse an OPC UA server: namespaces, objects and variables, and a connector file to start from.

:func:`browse` walks the hierarchical references from the Objects folder (or
from ``path``) breadth-first, a few requests per level, and returns every
object and variable with its NodeId in the portable ``nsu=<URI>;...`` form, its
browse path with namespace aliases, and for variables the data type,
EngineeringUnits and access level. Properties that describe a variable
(EngineeringUnits, EURange, EnumStrings, ...) are not listed themselves; the
server's own diagnostics object (``Server``, i=2253) is left out unless
``path`` starts inside it.

:func:`suggest_config` turns a browse result into a connector file: a power or
energy signal for each variable whose EngineeringUnits are power or energy (an
energy counter where an object has both), and a state signal for each OPC
40001-1 MachineryItemState (with its MachineryOperationMode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.quantities import QuantityError, parse_quantity

from ._opcua_nodes import CHUNK, node_id, path_element, unit_of
from .opcua_config import MACHINERY_URI, UA_URI

__all__ = ["BrowseNode", "BrowseResult", "browse", "namespace_hint", "suggest_config"]

_KNOWN_ALIASES = {
    UA_URI: "",
    "http://opcfoundation.org/UA/DI/": "di",
    "http://opcfoundation.org/UA/IA/": "ia",
    MACHINERY_URI: "mach",
    "http://opcfoundation.org/UA/PackML/": "packml",
}
_ACCESS = {1: "R", 2: "W"}
_SERVER_OBJECT = node_id(ObjectIds.Server)
#: Properties that describe their variable rather than carry data of their own.
_DESCRIBING = {
    "EngineeringUnits",
    "EURange",
    "InstrumentRange",
    "EnumStrings",
    "EnumValues",
    "ValueAsText",
    "ValuePrecision",
    "Definition",
    "NodeVersion",
    "TrueState",
    "FalseState",
}


@dataclass(frozen=True, slots=True)
class BrowseNode:
    """One object or variable found."""

    path: str  # Objects/alias:Name/... (the form connector files use)
    nodeid: str  # nsu=<URI>;s=... (or i=... in namespace 0)
    node_class: str  # Object or Variable
    data_type: str = ""
    unit: str = ""
    access: str = ""  # R, W, RW
    depth: int = 0


@dataclass(slots=True)
class BrowseResult:
    """Namespaces (index, URI, alias) and the nodes found."""

    endpoint: str
    namespaces: list[tuple[int, str, str]]
    nodes: list[BrowseNode] = field(default_factory=list)
    root: str = "Objects"  # browse path of the node the walk started from

    def aliases(self) -> dict[str, str]:
        return {alias: uri for _, uri, alias in self.namespaces if alias}

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "namespaces": [{"index": i, "uri": u, "alias": a} for i, u, a in self.namespaces],
            "nodes": [
                {
                    "path": n.path,
                    "nodeid": n.nodeid,
                    "class": n.node_class,
                    "data_type": n.data_type,
                    "unit": n.unit,
                    "access": n.access,
                }
                for n in self.nodes
            ],
        }


def _aliases(ns: list[str]) -> list[tuple[int, str, str]]:
    out, used = [], set()
    for i, uri in enumerate(ns):
        alias = _KNOWN_ALIASES.get(uri)
        if alias is None:
            words = re.findall(r"[A-Za-z0-9]+", uri.rstrip("/").rsplit("/", 1)[-1].split(":")[-1])
            alias = ("_".join(words) or f"ns{i}").lower()
            if alias[0].isdigit():
                alias = f"n{alias}"
        base, k = alias, 2
        while alias and alias in used:
            alias, k = f"{base}{k}", k + 1
        used.add(alias)
        out.append((i, uri, alias))
    return out


def _portable(nodeid: ua.NodeId, ns: list[str]) -> str:
    text = nodeid.to_string()  # ns=3;s=... or i=85
    if nodeid.NamespaceIndex == 0:
        return text
    return f"nsu={ns[nodeid.NamespaceIndex]};{text.split(';', 1)[1]}"


async def _browse_many(
    client: Client, nodeids: list[ua.NodeId]
) -> list[list[ua.ReferenceDescription]]:
    out: list[list[ua.ReferenceDescription]] = []
    for k in range(0, len(nodeids), CHUNK):
        params = ua.BrowseParameters()
        params.RequestedMaxReferencesPerNode = 0
        for nid in nodeids[k : k + CHUNK]:
            d = ua.BrowseDescription()
            d.NodeId = nid
            d.BrowseDirection = ua.BrowseDirection.Forward
            d.ReferenceTypeId = node_id(ObjectIds.HierarchicalReferences)
            d.IncludeSubtypes = True
            d.NodeClassMask = int(ua.NodeClass.Object) | int(ua.NodeClass.Variable)
            d.ResultMask = int(ua.BrowseResultMask.All)
            params.NodesToBrowse.append(d)
        results = await client.uaclient.browse(params)
        out.extend(list(r.References or []) for r in results)
    return out


async def _read_many(client: Client, nodeids: list[ua.NodeId], attr: Any) -> list[ua.DataValue]:
    out: list[ua.DataValue] = []
    for k in range(0, len(nodeids), CHUNK):
        out.extend(await client.uaclient.read_attributes(nodeids[k : k + CHUNK], attr))
    return out


async def _resolve_start(client: Client, path: str | None, ns: list[str]) -> tuple[ua.NodeId, str]:
    """The node to start from and its browse path text."""
    objects = node_id(ObjectIds.ObjectsFolder)
    if not path:
        return objects, "Objects"
    if path.startswith(("nsu=", "ns=", "i=", "s=", "g=", "b=")):
        text = path
        if path.startswith("nsu="):
            uri, rest = path[4:].split(";", 1)
            if uri not in ns:
                msg = f"the server has no namespace {uri!r}; it has: {_listing(ns)}"
                raise ConnectorError(msg)
            text = f"ns={ns.index(uri)};{rest}"
        try:
            return ua.NodeId.from_string(text), path
        except (ValueError, UaError) as exc:
            msg = f"--path {path!r} is not a NodeId: {exc}"
            raise ConnectorError(msg) from None
    # a path of browse names (any namespace): Machines/press-1
    node, where = objects, "Objects"
    for name in [s for s in path.strip("/").split("/") if s and s != "Objects"]:
        name = name.split(":", 1)[-1]
        refs = (await _browse_many(client, [node]))[0]
        match = [r for r in refs if r.BrowseName.Name == name]
        if not match:
            have = sorted(r.BrowseName.Name for r in refs)
            msg = f"--path {path!r}: {where} has no child {name!r} (it has {have})"
            raise ConnectorError(msg)
        node = match[0].NodeId
        prefix = _alias_of(match[0].BrowseName.NamespaceIndex, ns)
        where = f"{where}/{prefix}{name}"
    return node, where


def _alias_of(index: int, ns: list[str]) -> str:
    alias = _aliases(ns)[index][2] if index < len(ns) else f"ns{index}"
    return f"{alias}:" if alias else ""


def _listing(ns: list[str]) -> str:
    return ", ".join(f"{i} {uri}" for i, uri in enumerate(ns))


async def browse(
    client: Client, endpoint: str, *, path: str | None = None, depth: int = 3
) -> BrowseResult:
    """Walk the server from ``path`` (default: Objects) down ``depth`` levels."""
    ns = await client.get_namespace_array()
    start, start_text = await _resolve_start(client, path, ns)
    result = BrowseResult(endpoint, _aliases(ns), root=start_text)
    level: list[tuple[ua.NodeId, str]] = [(start, start_text)]
    seen = {start}
    for d in range(1, depth + 1):
        refs = await _browse_many(client, [n for n, _ in level])
        found: list[tuple[ua.ReferenceDescription, str]] = []
        for (_, parent_text), children in zip(level, refs, strict=True):
            for r in children:
                nid = ua.NodeId(r.NodeId.Identifier, r.NodeId.NamespaceIndex)
                if nid in seen or (nid == _SERVER_OBJECT and not path):
                    continue
                if (
                    r.ReferenceTypeId == node_id(ObjectIds.HasProperty)
                    and r.BrowseName.Name in _DESCRIBING
                ):
                    continue  # describes its variable (shown in its row)
                seen.add(nid)
                bn = r.BrowseName
                found.append((r, f"{parent_text}/{_alias_of(bn.NamespaceIndex, ns)}{bn.Name}"))
        variables = [
            ua.NodeId(r.NodeId.Identifier, r.NodeId.NamespaceIndex)
            for r, _ in found
            if r.NodeClass == ua.NodeClass.Variable
        ]
        info = await _variable_info(client, variables, ns)
        for r, text in found:
            nid = ua.NodeId(r.NodeId.Identifier, r.NodeId.NamespaceIndex)
            dtype, unit, access = info.get(nid, ("", "", ""))
            result.nodes.append(
                BrowseNode(text, _portable(nid, ns), r.NodeClass.name, dtype, unit, access, d)
            )
        level = [(ua.NodeId(r.NodeId.Identifier, r.NodeId.NamespaceIndex), t) for r, t in found]
        if not level:
            break
    return result


async def _variable_info(
    client: Client, nodes: list[ua.NodeId], ns: list[str]
) -> dict[ua.NodeId, tuple[str, str, str]]:
    if not nodes:
        return {}
    types = await _read_many(client, nodes, AttributeIds.DataType)
    access = await _read_many(client, nodes, AttributeIds.AccessLevel)
    type_ids = sorted(
        {dv.Value.Value for dv in types if dv.Value is not None and dv.Value.Value is not None},
        key=str,
    )
    names: dict[Any, str] = {}
    if type_ids:
        dvs = await _read_many(client, list(type_ids), AttributeIds.BrowseName)
        for tid, dv in zip(type_ids, dvs, strict=True):
            names[tid] = (
                dv.Value.Value.Name if dv.Value is not None and dv.Value.Value else str(tid)
            )
    units = await _units(client, nodes)
    out = {}
    for nid, t, a in zip(nodes, types, access, strict=True):
        tid = t.Value.Value if t.Value is not None else None
        level = int(a.Value.Value or 0) if a.Value is not None and a.Value.Value is not None else 0
        acc = "".join(v for bit, v in _ACCESS.items() if level & bit)
        out[nid] = (names.get(tid, ""), units.get(nid, ""), acc)
    return out


async def _units(client: Client, nodes: list[ua.NodeId]) -> dict[ua.NodeId, str]:
    """EngineeringUnits of the nodes that have them (one translate and one read per 1,000)."""
    has_property = node_id(ObjectIds.HasProperty)
    out: dict[ua.NodeId, str] = {}
    for k in range(0, len(nodes), CHUNK):
        chunk = nodes[k : k + CHUNK]
        paths = [
            ua.BrowsePath(
                StartingNode=nid,
                RelativePath=ua.RelativePath(
                    Elements=[path_element(ua.QualifiedName("EngineeringUnits", 0), has_property)]
                ),
            )
            for nid in chunk
        ]
        results = await client.uaclient.translate_browsepaths_to_nodeids(paths)
        found = [
            (nid, r.Targets[0].TargetId)
            for nid, r in zip(chunk, results, strict=True)
            if r.StatusCode.is_good() and r.Targets
        ]
        if not found:
            continue
        props = [ua.NodeId(t.Identifier, t.NamespaceIndex) for _, t in found]
        dvs = await _read_many(client, props, AttributeIds.Value)
        for (nid, _), dv in zip(found, dvs, strict=True):
            eu = dv.Value.Value if dv.Value is not None else None
            if isinstance(eu, ua.EUInformation):
                out[nid] = unit_of(eu)
    return out


def _dimension(unit: str) -> str | None:
    for kind in ("energy", "power"):
        try:
            parse_quantity(f"1 {unit}", kind)
        except QuantityError:
            continue
        return kind
    return None


def suggest_config(result: BrowseResult, **overrides: Any) -> dict[str, Any]:
    """A connector file (dict, YAML-ready) for the meters and Machinery states found."""
    by_parent: dict[str, dict[str, BrowseNode]] = {}
    for n in result.nodes:
        if n.node_class == "Variable" and n.unit and (kind := _dimension(n.unit)):
            parent = n.path.rsplit("/", 1)[0]
            by_parent.setdefault(parent, {}).setdefault(kind, n)
    signals: list[dict[str, Any]] = []
    for parent, kinds in sorted(by_parent.items()):
        kind = "energy" if "energy" in kinds else "power"
        node = kinds[kind]
        rel = parent[len(result.root) :] if parent.startswith(result.root) else parent
        names = [s.split(":", 1)[-1] for s in rel.split("/") if s]
        meter = ".".join([names[0], *names[-2:]] if len(names) > 2 else names) or "meter"
        signals.append({"kind": kind, "meter": meter, "node": node.nodeid})
    paths = {n.path for n in result.nodes}
    for n in result.nodes:
        segs = n.path.split("/")
        if (
            segs[-3:-2]
            and segs[-3].split(":", 1)[-1] == "MachineryItemState"
            and segs[-2:]
            == [
                "CurrentState",
                "Id",
            ]
        ):
            owner = [x for x in segs[:-3] if x.split(":", 1)[-1] != "MachineryBuildingBlocks"]
            sig: dict[str, Any] = {
                "kind": "state",
                "asset": owner[-1].split(":", 1)[-1],
                "node": n.path,
            }
            mode = n.path.replace("MachineryItemState/", "MachineryOperationMode/")
            if mode in paths:
                sig["mode_node"] = mode
            signals.append(sig)
    cfg: dict[str, Any] = {
        "endpoint": result.endpoint,
        "namespaces": result.aliases(),
        "signals": signals,
    }
    cfg.update(overrides)
    return cfg


async def namespace_hint(client: Client, text: str) -> str:
    """For ``ns=<i>;...``: the same node with its namespace URI, as a connector file wants it."""
    ns = await client.get_namespace_array()
    m = re.match(r"^ns=(\d+);(.+)$", text)
    if not m:
        return ""
    i = int(m.group(1))
    if i >= len(ns):
        return f"the server has no namespace {i}; it has: {_listing(ns)}"
    return f"write nsu={ns[i]};{m.group(2)} (namespace {i} on this server is {ns[i]})"
