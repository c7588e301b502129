"""Answers to a requester's own event source go only to public addresses: a requester
must not make the service POST into the network it runs in (server-side request
forgery). Addresses are IP literals or localhost: no name goes to a DNS server."""

from __future__ import annotations

import pytest

from carbontwin.api._pact_host import deliver, non_public_address


@pytest.mark.parametrize(
    ("url", "bad"),
    [
        ("http://127.0.0.1:8080/3/events", "127.0.0.1"),  # loopback
        ("https://10.20.30.40/3/events", "10.20.30.40"),  # private (RFC 1918)
        ("https://192.168.1.5:8443/3/events", "192.168.1.5"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),  # cloud metadata
        ("http://[::1]:9000/3/events", "::1"),
        ("http://[fd00::1]/3/events", "fd00::1"),  # unique local
        ("http://100.64.0.1/3/events", "100.64.0.1"),  # carrier-grade NAT
        ("http://0.0.0.0/3/events", "0.0.0.0"),
        ("https://8.8.8.8/3/events", None),  # public
        ("https://[2001:4860:4860::8888]/3/events", None),
    ],
)
def test_non_public_addresses_are_named(url, bad):
    assert non_public_address(url) == bad


def test_localhost_is_not_public_and_other_names_wait_for_the_delivery():
    assert non_public_address("http://localhost:8080/3/events") == "localhost"
    assert non_public_address("http://app.localhost/3/events", resolve=False) == "app.localhost"
    # without resolving, a name is judged when the answer is sent (no DNS query here)
    assert non_public_address("https://buyer.example/3/events", resolve=False) is None
    assert non_public_address("https://10.0.0.8/3/events", resolve=False) == "10.0.0.8"


def test_delivery_checks_the_address_again_and_sends_nothing_to_a_private_one():
    class Services:  # what deliver reads of a tenant's services
        class settings:  # noqa: N801
            pact_answer_private_sources = False
            callback_timeout_s = 1.0

        deliveries: list = []

    answer = {
        "attributes": {
            "type": "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3",
            "specversion": "1.0",
            "id": "e-1",
            "source": "https://host.example/3/events",
        },
        "data": {"requestEventId": "r-1", "pfs": []},
    }
    # port 9 on loopback: were anything sent, the record would say so (status or error)
    deliver(Services, "http://127.0.0.1:9/3/events", None, answer, from_request=True)
    (record,) = Services.deliveries
    assert record["status"] is None
    assert record["error"] == (
        "not sent: http://127.0.0.1:9/3/events resolves to 127.0.0.1, not a public address"
    )
