"""``PUT /factory`` answers hostile bodies with a 4xx naming the limit, fast."""

from __future__ import annotations

import time

import pytest
from hostile_inputs import BOMB, DEEP_JSON


@pytest.mark.parametrize(
    ("body", "ctype", "needle"),
    [
        (BOMB, "application/yaml", "aliases (*name) repeat more than"),
        (DEEP_JSON, "application/json", "nests deeper than 64 levels"),
        ('{"id": [' * 40 + "1" + "]}" * 40, "application/json", "nests deeper than 64 levels"),
    ],
)
def test_put_factory_answers_4xx(api, body, ctype, needle):
    client, headers = api
    t0 = time.process_time()
    r = client.put("/factory", content=body, headers={**headers, "Content-Type": ctype})
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.text
    assert time.process_time() - t0 < 2.0
