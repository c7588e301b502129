"""The verifier's pack's form (:mod:`carbontwin.api.pack`): its formats, its members'
names, and its canonical zip, shared by building a pack and recomputing one."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

FORMAT = "carbontwin-pack/1"
#: a progress callback: ``(windows done, windows in all)``
Progress = Callable[[int, int], None]
#: the pack of a footprint issued window by window
FORMAT_WINDOWS = "carbontwin-pack/3"
#: the earlier pack of a footprint issued window by window (its windows as JSON), still read
FORMAT_WINDOWS_JSON = "carbontwin-pack/2"
_FILES = (
    "footprint.json",
    "public_key.pem",
    "factory.json",
    "events.json",
    "factors.json",
    "rules.json",
)
_FILES_WINDOWS = (
    "footprint.json",
    "public_key.pem",
    "factory.json",
    "factors.json",
    "rules.json",
    "orders.json",
    "order_events.json",
)
#: members in the order the canonical zip holds them (after ``manifest.json``; then the
#: windows' members, by name)
_ORDER = (*_FILES, "orders.json", "order_events.json")
_WINDOW_DIR = "windows/"


def _json(obj: Any, *, compact: bool = False) -> bytes:
    if compact:  # the large inputs: one line, no spaces
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    else:
        text = json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Spooled:
    """A pack member written to a file of the pack's temporary folder."""

    path: Path
    size: int
    sha256: str

    @classmethod
    def write(cls, path: Path, data: bytes) -> _Spooled:
        path.write_bytes(data)
        return cls(path, len(data), hashlib.sha256(data).hexdigest())


#: a pack member's content: its bytes, or the file holding them
Member = bytes | _Spooled


def _parquet_member(i: int, kind: str) -> str:
    """The member holding window ``i``'s events of ``kind`` (``carbontwin-pack/3``)."""
    return f"{_WINDOW_DIR}{i:04d}/{kind}.parquet"


def _json_member(i: int) -> str:
    """The member holding window ``i``'s events (``carbontwin-pack/2``)."""
    return f"{_WINDOW_DIR}{i:04d}.json"


def _window_members(i: int, fmt: str) -> list[str]:
    """The members holding window ``i``'s events in a pack of format ``fmt``."""
    from carbontwin.twin.lineage import EVENT_KINDS

    if fmt == FORMAT_WINDOWS_JSON:
        return [_json_member(i)]
    return [_parquet_member(i, kind) for kind in EVENT_KINDS]


def _window_events(raw: Mapping[str, bytes], i: int, fmt: str) -> Any:
    """Window ``i``'s events from the pack's members ``raw``."""
    from carbontwin.twin.lineage import EVENT_KINDS, events_from_dict, events_from_parquet

    if fmt == FORMAT_WINDOWS_JSON:
        return events_from_dict(json.loads(raw[_json_member(i)]))
    return events_from_parquet({kind: raw[_parquet_member(i, kind)] for kind in EVENT_KINDS})


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _members(names: Any) -> list[str]:
    """``names`` in the canonical zip's order: the manifest, the fixed files, the windows."""
    have = set(names)
    fixed = [n for n in ("manifest.json", *_ORDER) if n in have]
    return fixed + sorted(have - set(fixed))


def _zip(files: Mapping[str, bytes]) -> bytes:
    """The pack's canonical zip of ``files`` (:func:`_write_zip`) as bytes."""
    buf = io.BytesIO()
    _write_zip(files, buf)
    return buf.getvalue()


def _write_zip(files: Mapping[str, Member], out: IO[bytes]) -> int:
    """Write the pack's canonical zip of ``files`` to ``out``: stored (not compressed, so
    the bytes do not depend on a zlib version), fixed times, in manifest-then-content
    order; its size in bytes. Recompute rebuilds it and compares, so a changed byte
    anywhere in the file is found. A spooled member is copied from its file in pieces.
    ``out`` must be seekable: on a stream zipfile writes another header form."""
    if not out.seekable():
        msg = "a pack is written to a seekable file (a stream would get other zip headers)"
        raise ValueError(msg)
    start = out.tell()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name in _members(files):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            member = files[name]
            if isinstance(member, _Spooled):
                info.file_size = member.size  # as writestr sets it: the same header
                with z.open(info, "w") as dest, member.path.open("rb") as src:
                    shutil.copyfileobj(src, dest, 1 << 20)
            else:
                z.writestr(info, member)
    return out.tell() - start
