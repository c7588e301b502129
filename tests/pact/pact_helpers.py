"""PACT test helpers: schema validators (MIT conformance-service OpenAPI files in
``specs/``), footprints, and a partner endpoint that records callbacks."""

from __future__ import annotations

import base64
import functools
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from carbontwin.twin.footprint import Footprint

SPECS = Path(__file__).parent / "specs"


@functools.cache
def _document(version: int) -> dict:
    name = {2: "openapi_v2_2.yaml", 3: "openapi_v3_0.yaml"}[version]
    return yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))


@functools.cache
def schema_validator(version: int, schema: str = "ProductFootprint") -> Draft202012Validator:
    """JSON Schema 2020-12 validator of ``components/schemas/<schema>`` (formats checked)."""
    doc = _document(version)
    registry = Registry().with_resource(
        "urn:pact-openapi", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"urn:pact-openapi#/components/schemas/{schema}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def assert_valid(doc: dict, version: int, schema: str = "ProductFootprint") -> None:
    errors = sorted(schema_validator(version, schema).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{e.json_path}: {e.message[:300]}" for e in errors)


# --- a PACT host with footprints, and a partner that receives callbacks ---------


CLIENT_ID = "pact-client"
CLIENT_SECRET = "pact-secret-123"
PARTNER_SOURCE = "https://webhook.example.com"
PARTNER_TOKEN = "partner-token-xyz"
CLASSIFICATION = "urn:eclass:0173-1#01-AAA123#005"


def basic(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "Content-Type": "application/x-www-form-urlencoded"}


def make_footprint(
    order: str,
    product: str,
    *,
    co2e_kg: float = 120.0,
    quantity: float = 40.0,
    start: datetime | None = None,
    declared_unit: str = "piece",
    primary: float = 0.93,
) -> Footprint:
    """A footprint whose parts add up (scope 1 + 2 + 3 == total)."""
    t0 = start or datetime(2019, 3, 4, 6, tzinfo=UTC)
    s1, s3 = 0.05 * co2e_kg, 0.55 * co2e_kg
    s2 = co2e_kg - s1 - s3
    return Footprint(
        order=order,
        product=product,
        quantity=quantity,
        declared_unit=declared_unit,
        period_start=t0,
        period_end=t0 + timedelta(hours=7, minutes=20),
        energy_kwh=co2e_kg * 1.4,
        co2e_kg=co2e_kg,
        co2e_market_kg=co2e_kg - 0.5 * s2,
        scope1_kg=s1,
        scope2_location_kg=s2,
        scope2_market_kg=0.5 * s2,
        scope3_kg=s3,
        energy_by_carrier_kwh={"electricity": co2e_kg * 1.3, "natural_gas": co2e_kg * 0.1},
        co2e_by_material_kg={"steel-s235": s3},
        primary_data_share=primary,
        rules={"idle": "processing_time_share", "utility": "machine_hours"},
        factor_versions={"DE_2019_hourly": "2019.1", "fuel": "2024"},
    )


class Receiver:
    """A partner's Action Events endpoint on 127.0.0.1 that records what it gets."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], dict]] = []
        self.paths: list[str] = []
        received, paths = self.events, self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(n))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                paths.append(self.path)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
