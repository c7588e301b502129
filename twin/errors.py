"""The one error tree of carbontwin.

Every message says what was wrong, where (the asset, the field, the line of the
file) and, where it helps, what to do. ``api/`` maps this tree to HTTP 4xx in a
single exception handler; core code never raises HTTP errors.
"""

from __future__ import annotations

__all__ = [
    "AttributionError",
    "CarbonTwinError",
    "ConnectorError",
    "EventConflictError",
    "EventError",
    "EventRowsError",
    "FactoryModelError",
    "PluginError",
    "SimulationError",
    "StoreError",
]


class CarbonTwinError(Exception):
    """Base of every error carbontwin raises on purpose.

    Parameters
    ----------
    message : str
        What was wrong and where.
    field : str, optional
        Dotted path of the offending field (``machines[3].power.idle``), when
        the error is about one input field. The API reports it as ``loc``.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class FactoryModelError(CarbonTwinError):
    """A factory description is invalid.

    ``errors`` holds every problem found (``file:line: item: message``), so a
    factory engineer can fix them all in one pass.
    """

    def __init__(
        self, message: str, *, errors: list[str] | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.errors: list[str] = list(errors) if errors else [message]


class EventError(CarbonTwinError):
    """An event or event batch is invalid (unknown asset, time not monotone, NaN)."""


class EventRowsError(EventError):
    """Rows of an event batch are refused; nothing of the batch is stored.

    ``rows`` lists each refused row as ``(kind, row, message)``: the kind
    (``"power"``, ``"materials"``, ...), the row's number within that kind in
    the batch (from 0) and what is wrong with it.
    """

    def __init__(
        self, message: str, *, rows: list[tuple[str, int, str]], field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.rows = list(rows)


class EventConflictError(EventRowsError):
    """Events disagree with events of the same key (stored, or earlier in the batch)."""


class AttributionError(CarbonTwinError):
    """Energy or emissions cannot be attributed as asked."""


class SimulationError(CarbonTwinError):
    """A scenario or production plan cannot be simulated."""


class ConnectorError(CarbonTwinError):
    """A shop-floor connection failed (OPC UA status code, lost server, bad mapping)."""


class PluginError(CarbonTwinError):
    """A plugin is missing, broken, or registered twice."""


class StoreError(CarbonTwinError):
    """The store refused a write or cannot be reached."""
