"""Parts of every connector file: the spool, the store, and reading the file itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from carbontwin.twin._yaml_lines import SourceError, line_of, read_with_lines
from carbontwin.twin.errors import ConnectorError

__all__ = ["SpoolConfig", "StoreConfig", "load_config_file", "read_config_data"]

M = TypeVar("M", bound=BaseModel)


class SpoolConfig(BaseModel):
    """The local spool between the connector and the store."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        Path("carbontwin-spool.db"),
        description="Spool file (SQLite), relative to the connector file; keep one per connector.",
    )
    flush_batch: int = Field(5000, ge=1, description="Events per store transaction.")
    flush_interval_s: float = Field(
        0.2, gt=0, description="Pause of the flusher when the spool is empty [s]."
    )
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="FULL: a spooled batch survives a power loss; NORMAL: a process crash only "
        "(faster).",
    )
    max_events: int = Field(
        20_000_000,
        ge=1,
        description="Events the spool may hold for the store (about 90 bytes each on disk: "
        "20 million is about 1.8 GB, 11 hours of 500 meters read each second). Past it, "
        "power and counter readings are not spooled, and each meter gets a gap "
        "(reason 'spool full') from its last spooled reading to its first one after the "
        "spool is back under 90 %; states, order steps, materials and gaps are always spooled.",
    )


class StoreConfig(BaseModel):
    """The twin store the spool is flushed to."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store; CARBONTWIN_DATABASE_URL or "
        "sqlite:///carbontwin.db when absent.",
    )
    tenant: str = Field(
        "default",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Tenant whose events these are (the plant's tenant; 'default' in a "
        "single-plant setup).",
    )


def read_config_data(path: Path | str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """The parsed file (YAML, or JSON by suffix) and the line of each item."""
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        text = path.read_text(encoding="utf-8")
        data, lines, _ = read_with_lines(text, fmt)
    except OSError as exc:
        msg = f"cannot read the connector file {path}: {exc}"
        raise ConnectorError(msg) from exc
    except SourceError as exc:
        msg = f"{path}:{exc.line or '?'}: {exc.message}"
        raise ConnectorError(msg) from None
    return data, lines


def load_config_file(path: Path | str, model: type[M], data: Any = None) -> M:
    """Validate a connector file against ``model``; errors name file:line and the field."""
    path = Path(path)
    lines: dict[tuple[str | int, ...], int] = {}
    if data is None:
        data, lines = read_config_data(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            where = ".".join(str(p) for p in loc) or "(file)"
            line = line_of(lines, loc)
            problems.append(f"{path}:{line or '?'}: {where}: {e['msg']}")
        field = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else None
        msg = "invalid connector file: " + "; ".join(problems)
        raise ConnectorError(msg, field=field) from None
