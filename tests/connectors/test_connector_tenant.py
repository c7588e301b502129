"""A connector file names the tenant its events belong to (``store.tenant``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from carbontwin.connectors._config_common import StoreConfig
from carbontwin.connectors._live import SpooledConnector
from carbontwin.twin.events import EventBatch, PowerSample
from carbontwin.twin.store import Store


def test_the_store_sink_writes_into_the_files_tenant(tmp_path):
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    Store.open(url).admin.add_tenant("plant-a")
    cfg = StoreConfig(url=url, tenant="plant-a")
    conn = SpooledConnector(None, cfg.url, None, cfg.tenant)
    batch = EventBatch.from_events([PowerSample("M1", datetime(2019, 3, 4, tzinfo=UTC), 7.5)])
    assert conn._store_sink()(batch) == 1
    assert Store(url, tenant="plant-a").read_events().power_kw.tolist() == [7.5]
    assert Store(url).read_events().power_kw.tolist() == []  # not in tenant default


def test_the_tenant_defaults_and_bad_names_are_refused():
    assert StoreConfig().tenant == "default"
    with pytest.raises(ValidationError, match="tenant"):
        StoreConfig(tenant="Plant A")
