"""Node helpers shared by the OPC UA connector and the demo line server.

Resolution of configured nodes (``nsu=`` NodeIds and browse paths with
namespace aliases) in few requests, engineering units (OPC UA ``EUInformation``
with UNECE codes) and their conversion to carbontwin's kW and kWh.
"""

from __future__ import annotations

from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.quantities import QuantityError, parse_quantity

UNECE_URI = "http://www.opcfoundation.org/UA/units/un/cefact"
#: UNECE Rec. 20 common codes of power and energy units.
UNECE_CODES = {"W": "WTT", "kW": "KWT", "MW": "MAW", "Wh": "WHR", "kWh": "KWH", "MWh": "MWH"}
_FROM_CODE = {v: k for k, v in UNECE_CODES.items()}
CHUNK = 1000


def node_id(identifier: int | str, namespace: int = 0) -> ua.NodeId:
    """``ua.NodeId(identifier, namespace)`` of a plain number or string.

    asyncua annotates NodeId's fields with its encoding marker classes
    (``ua.Int32``, ``ua.String``, ``ua.Int16``), though it takes and gives back
    plain ints and strs (``ua.ObjectIds`` are ints); NodeIds are made here so that
    the type checker is told so once.
    """
    return ua.NodeId(identifier, namespace)  # type: ignore[arg-type]  # asyncua's marker classes


_HIERARCHICAL = node_id(ObjectIds.HierarchicalReferences)


def eu_information(unit: str) -> ua.EUInformation:
    """OPC UA ``EUInformation`` of ``unit`` (W, kW, MW, Wh, kWh, MWh) with its UNECE UnitId."""
    unit_id = 0
    for ch in UNECE_CODES[unit]:
        unit_id = (unit_id << 8) | ord(ch)
    return ua.EUInformation(
        NamespaceUri=UNECE_URI,
        UnitId=unit_id,
        DisplayName=ua.LocalizedText(unit),
        Description=ua.LocalizedText(unit),
    )


def unit_of(eu: ua.EUInformation) -> str:
    """Unit symbol of an ``EUInformation``: by UNECE UnitId, else its DisplayName."""
    uid = int(eu.UnitId or 0)
    code = "".join(chr((uid >> s) & 0xFF) for s in (16, 8, 0)).lstrip("\x00")
    return _FROM_CODE.get(code) or (eu.DisplayName.Text if eu.DisplayName else "") or ""


def factor_to_canonical(unit: str, kind: str, where: str) -> float:
    """Multiplier taking a value in ``unit`` to kW (``kind="power"``) or kWh (``"energy"``)."""
    try:
        return parse_quantity(f"1 {unit}", kind)
    except QuantityError as exc:
        msg = f"{where}: unit {unit!r} is not a {kind} unit: {exc}"
        raise ConnectorError(msg) from exc


def path_element(name: ua.QualifiedName, ref: ua.NodeId = _HIERARCHICAL) -> ua.RelativePathElement:
    """A forward step of a browse path to the child ``name`` by ``ref`` or its subtypes."""
    # asyncua annotates the flags as its marker class ua.Boolean, which no bool is
    return ua.RelativePathElement(
        ReferenceTypeId=ref,
        IsInverse=False,  # type: ignore[arg-type]  # ua.Boolean, see above
        IncludeSubtypes=True,  # type: ignore[arg-type]  # ua.Boolean, see above
        TargetName=name,
    )


async def _translate(
    client: Client, paths: list[tuple[str, ua.BrowsePath]], endpoint: str
) -> dict[str, ua.NodeId]:
    out: dict[str, ua.NodeId] = {}
    for k in range(0, len(paths), CHUNK):
        chunk = paths[k : k + CHUNK]
        results = await client.uaclient.translate_browsepaths_to_nodeids([bp for _, bp in chunk])
        for (text, _), res in zip(chunk, results, strict=True):
            if not res.StatusCode.is_good() or not res.Targets:
                msg = f"browse path {text!r} not found on {endpoint}: {res.StatusCode.name}"
                raise ConnectorError(msg)
            tid = res.Targets[0].TargetId
            out[text] = ua.NodeId(tid.Identifier, tid.NamespaceIndex)
    return out


async def resolve_nodes(
    client: Client, texts: list[str], namespaces: dict[str, str], endpoint: str
) -> dict[str, ua.NodeId]:
    """NodeIds of configured nodes (``nsu=URI;...``, ``i=...``, or ``Objects/alias:Name/...``).

    Raises
    ------
    ConnectorError
        Naming the node when a namespace URI is unknown to the server or a
        browse path leads nowhere.
    """
    ns = await client.get_namespace_array()

    def idx(uri: str, where: str) -> int:
        if uri not in ns:
            have = ", ".join(f"{i} {u}" for i, u in enumerate(ns))
            msg = f"node {where!r}: server {endpoint} has no namespace {uri!r}; it has: {have}"
            raise ConnectorError(msg)
        return ns.index(uri)

    out: dict[str, ua.NodeId] = {}
    paths: list[tuple[str, ua.BrowsePath]] = []
    for text in texts:
        if text.startswith("nsu="):
            uri, rest = text[4:].split(";", 1)
            out[text] = ua.NodeId.from_string(f"ns={idx(uri, text)};{rest}")
        elif text.startswith(("i=", "s=", "g=", "b=")):
            out[text] = ua.NodeId.from_string(text)
        else:
            segs = [s for s in text.strip("/").split("/") if s]
            if segs and segs[0] == "Objects":
                segs = segs[1:]
            elements = []
            for seg in segs:
                if ":" in seg:
                    alias, name = seg.split(":", 1)
                    elements.append(
                        path_element(ua.QualifiedName(name, idx(namespaces[alias], text)))
                    )
                else:
                    elements.append(path_element(ua.QualifiedName(seg, 0)))
            paths.append(
                (
                    text,
                    ua.BrowsePath(
                        StartingNode=node_id(ObjectIds.ObjectsFolder),
                        RelativePath=ua.RelativePath(Elements=elements),
                    ),
                )
            )
    out.update(await _translate(client, paths, endpoint))
    return out


async def read_units(client: Client, nodes: dict[str, ua.NodeId], endpoint: str) -> dict[str, str]:
    """Unit symbols from each node's ``EngineeringUnits`` property (two requests per 1,000 nodes).

    Raises
    ------
    ConnectorError
        Naming a node that has no ``EngineeringUnits``.
    """
    has_property = node_id(ObjectIds.HasProperty)
    paths = [
        (
            text,
            ua.BrowsePath(
                StartingNode=nodeid,
                RelativePath=ua.RelativePath(
                    Elements=[path_element(ua.QualifiedName("EngineeringUnits", 0), has_property)]
                ),
            ),
        )
        for text, nodeid in nodes.items()
    ]
    try:
        props = await _translate(client, paths, endpoint)
    except ConnectorError as exc:
        msg = f"{exc.message}; a node without EngineeringUnits needs 'unit' in the connector file"
        raise ConnectorError(msg) from exc
    units: dict[str, str] = {}
    items = list(props.items())
    for k in range(0, len(items), CHUNK):
        chunk = items[k : k + CHUNK]
        dvs = await client.uaclient.read_attributes([n for _, n in chunk], AttributeIds.Value)
        for (text, _), dv in zip(chunk, dvs, strict=True):
            eu = dv.Value.Value if dv.Value is not None else None
            if not isinstance(eu, ua.EUInformation):
                msg = f"node {text!r}: EngineeringUnits is {eu!r}, not an EUInformation"
                raise ConnectorError(msg)
            units[text] = unit_of(eu)
    return units


def _enum_map(value: Any) -> dict[int, str] | None:
    """{number: name} from EnumStrings (LocalizedText[]), EnumValues (EnumValueType[]) or an
    EnumDefinition; None when ``value`` is none of these."""
    if isinstance(value, ua.EnumDefinition):
        return {int(f.Value): str(f.Name) for f in value.Fields or []}
    if isinstance(value, list) and value:
        if all(isinstance(v, ua.LocalizedText) for v in value):
            return {i: str(v.Text) for i, v in enumerate(value)}
        if all(isinstance(v, ua.EnumValueType) for v in value):
            return {int(v.Value): str(v.DisplayName.Text) for v in value}
    return None


async def _property_values(
    client: Client, nodes: list[ua.NodeId], names: tuple[str, ...]
) -> list[Any]:
    """For each node, the value of its first property among ``names`` (or None)."""
    has_property = node_id(ObjectIds.HasProperty)
    out: list[Any] = [None] * len(nodes)
    for name in names:
        todo = [k for k, v in enumerate(out) if v is None]
        if not todo:
            break
        paths = [
            ua.BrowsePath(
                StartingNode=nodes[k],
                RelativePath=ua.RelativePath(
                    Elements=[path_element(ua.QualifiedName(name, 0), has_property)]
                ),
            )
            for k in todo
        ]
        found: list[tuple[int, ua.NodeId]] = []
        for j in range(0, len(paths), CHUNK):
            results = await client.uaclient.translate_browsepaths_to_nodeids(paths[j : j + CHUNK])
            for k, res in zip(todo[j : j + CHUNK], results, strict=True):
                if res.StatusCode.is_good() and res.Targets:
                    tid = res.Targets[0].TargetId
                    found.append((k, ua.NodeId(tid.Identifier, tid.NamespaceIndex)))
        for j in range(0, len(found), CHUNK):
            part = found[j : j + CHUNK]
            dvs = await client.uaclient.read_attributes([n for _, n in part], AttributeIds.Value)
            for (k, _), dv in zip(part, dvs, strict=True):
                out[k] = dv.Value.Value if dv.Value is not None else None
    return out


async def read_enum_names(client: Client, nodes: dict[str, ua.NodeId]) -> dict[str, dict[int, str]]:
    """Names of the numeric values of state variables, as the server declares them.

    A MultiStateDiscrete variable has ``EnumStrings``, a MultiStateValueDiscrete one
    ``EnumValues``; a variable of an Enumeration data type takes them from its data
    type (``EnumStrings``, ``EnumValues`` or its ``DataTypeDefinition``). Nodes
    with none of these are left out.
    """
    texts = list(nodes)
    ids = [nodes[t] for t in texts]
    own = await _property_values(client, ids, ("EnumStrings", "EnumValues"))
    out: dict[str, dict[int, str]] = {}
    rest: list[int] = []
    for k, value in enumerate(own):
        names = _enum_map(value)
        if names is not None:
            out[texts[k]] = names
        else:
            rest.append(k)
    if not rest:
        return out
    dtypes = await client.uaclient.read_attributes([ids[k] for k in rest], AttributeIds.DataType)
    typed = [
        (k, dv.Value.Value)
        for k, dv in zip(rest, dtypes, strict=True)
        if dv.Value is not None
        and isinstance(dv.Value.Value, ua.NodeId)
        and not (dv.Value.Value.NamespaceIndex == 0 and dv.Value.Value.Identifier in _SCALARS)
    ]
    if not typed:
        return out
    on_type = await _property_values(client, [t for _, t in typed], ("EnumStrings", "EnumValues"))
    defs = await client.uaclient.read_attributes(
        [t for _, t in typed], AttributeIds.DataTypeDefinition
    )
    for (k, _), value, dv in zip(typed, on_type, defs, strict=True):
        names = _enum_map(value)
        # a DataValue without a StatusCode is Good (the encoding leaves a Good one out)
        good = dv.StatusCode is None or dv.StatusCode.is_good()
        if names is None and good and dv.Value is not None:
            names = _enum_map(dv.Value.Value)
        if names is not None:
            out[texts[k]] = names
    return out


#: Namespace-0 data types that are never enumerations (numbers, text, ids).
_SCALARS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 17, 21, 26, 27, 28}
