"""Stateful schemathesis against a populated store: sequences of calls, 0 server errors.

schemathesis infers the links between operations from the OpenAPI document
(a footprint id from ``GET /footprints`` into ``GET /footprints/{id}``, an
order id into ``/orders/{id}/footprint``, ...) and runs call sequences through
the app in-process (ASGI), with a valid bearer token. The store holds the demo
factory, its orders, simulated events, issued (and one published) footprints,
and a configured PACT partner. Every response must be below 500; the budget
(examples x steps) is fixed so the run stays under about two minutes;
``CARBONTWIN_STATEFUL_EXAMPLES`` raises it for a longer hunt.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from api_helpers import make_settings
from hypothesis import HealthCheck, settings

from carbontwin.api import create_app
from carbontwin.api.deps import issue_token
from carbontwin.api.settings import PactPartner
from carbontwin.twin.examples import demo_factory

pytestmark = pytest.mark.slow

PARTNER = "https://partner.example"


def _populated() -> tuple[object, str, Path]:
    from carbontwin.api.issuing import attribute_and_issue
    from carbontwin.simulation import simulate

    tmp = Path(tempfile.mkdtemp(prefix="carbontwin-stateful-"))
    conf = make_settings(
        tmp,
        require_https=False,
        # the partner's events endpoint refuses connections: callbacks fail fast, on record
        pact_partners={PARTNER: PactPartner(events_url="http://127.0.0.1:9", token="t")},
        callback_timeout_s=0.5,
    )
    app = create_app(conf)
    services = app.state.services
    factory = demo_factory()
    services.store.save_factory(factory)
    services.store.save_orders(factory.orders)
    services.store.write_events(
        simulate(factory, factory.orders[:3], "fifo", 2, sample_period_s=900).events
    )
    issued = attribute_and_issue(services)
    services.store.publish_footprint(issued[0].id)
    return app, issue_token(conf, "stateful-fuzzer"), tmp


def test_call_sequences_make_no_server_error():
    app, token, tmp = _populated()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls: Counter[str] = Counter()
    errors: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            calls[f"{case.method} {case.path}"] += 1
            if response.status_code >= 500:
                errors.append(
                    f"{case.method} {case.formatted_path} {case.query or ''} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )
            assert response.status_code < 500, errors[-1]

    try:
        Workflow.run(
            settings=settings(
                max_examples=int(os.environ.get("CARBONTWIN_STATEFUL_EXAMPLES", "80")),
                stateful_step_count=8,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
        )
    finally:
        app.state.services.close()
        shutil.rmtree(tmp, ignore_errors=True)
    assert errors == []
    # the run reached the API: many calls over many operations, stored data among them
    assert sum(calls.values()) >= 50, calls
    assert len(calls) >= 10, calls
