"""API test helpers: settings on a SQLite file, tokens, event batches as JSON bodies."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from carbontwin.api import Settings
from carbontwin.twin.events import (
    EnergyCounter,
    EventBatch,
    Gap,
    MaterialUse,
    OrderStep,
    PowerSample,
    StateChange,
)

CLIENT_ID, CLIENT_SECRET = "api-client", "api-secret-456"


def _iso(t: Any) -> str:
    return t.isoformat().replace("+00:00", "Z")


def events_json(batch: EventBatch) -> dict[str, list[dict[str, Any]]]:
    """Body of ``POST /events`` for ``batch``."""
    out: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("states", "power", "counters", "steps", "materials", "gaps")
    }
    for e in batch.events():
        if isinstance(e, StateChange):
            out["states"].append({"asset": e.asset, "t": _iso(e.t), "state": e.state.value})
        elif isinstance(e, PowerSample):
            out["power"].append({"meter": e.meter, "t": _iso(e.t), "power_kw": e.power_kw})
        elif isinstance(e, EnergyCounter):
            out["counters"].append({"meter": e.meter, "t": _iso(e.t), "energy_kwh": e.energy_kwh})
        elif isinstance(e, OrderStep):
            out["steps"].append(
                {
                    "order": e.order,
                    "operation": e.operation,
                    "asset": e.asset,
                    "start": _iso(e.start),
                    "end": _iso(e.end),
                    "quantity": e.quantity,
                    "kind": e.kind.value,
                }
            )
        elif isinstance(e, MaterialUse):
            out["materials"].append(
                {
                    "order": e.order,
                    "material": e.material,
                    "quantity": e.quantity,
                    "unit": e.unit,
                    "booking": e.booking or f"{e.order}/{e.material}",
                }
            )
        elif isinstance(e, Gap):
            out["gaps"].append(
                {"source": e.source, "start": _iso(e.start), "end": _iso(e.end), "reason": e.reason}
            )
    return out


def make_settings(tmp_path, **kw: Any) -> Settings:
    kw.setdefault("database_url", f"sqlite:///{tmp_path / 'twin.db'}")
    return Settings(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, key_path=tmp_path / "signing.pem", **kw
    )


def get_token(client: TestClient) -> str:
    raw = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    r = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {raw}"},
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]
