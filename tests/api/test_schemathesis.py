"""schemathesis against the app's OpenAPI document: no request makes a server error.

Runs in-process through schemathesis's ASGI integration on a SQLite store that
holds the demo factory, its orders and simulated events, with a valid bearer
token, so generated requests reach the handlers (HTTPS enforcement is off here;
it is tested in ``tests/pact``). Examples per operation are bounded to keep the
run short.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from api_helpers import make_settings
from hypothesis import HealthCheck, settings

from carbontwin.api import create_app
from carbontwin.api.deps import issue_token
from carbontwin.twin.examples import demo_factory

pytestmark = pytest.mark.slow

# schemathesis parametrizes at collection time, so the app exists at import of this
# test module (create_app does no I/O; the store opens in the fixture below).
_TMP = Path(tempfile.mkdtemp(prefix="carbontwin-fuzz-"))
_SETTINGS = make_settings(_TMP, require_https=False)
APP = create_app(_SETTINGS)
TOKEN = issue_token(_SETTINGS, "fuzzer")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _seeded_store():
    from carbontwin.simulation import simulate

    store = APP.state.services.store
    factory = demo_factory()
    store.save_factory(factory)
    store.save_orders(factory.orders)
    store.write_events(simulate(factory, factory.orders[:2], "fifo", 1, sample_period_s=900).events)
    yield
    APP.state.services.close()
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (
        case.method,
        case.path,
        response.status_code,
        response.text[:500],
    )
