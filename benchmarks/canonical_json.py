"""Canonical JSON benchmark: RFC 8785 bytes of issued footprint payloads, carbontwin
against the ``rfc8785`` package.

Run from the repository root::

    python benchmarks/canonical_json.py            # the demo day's footprints, 200 rounds
    python benchmarks/canonical_json.py --rounds 5 # tiny (the test suite runs this)

The payloads are those issuing signs: the demo day is simulated, attributed and
issued into a SQLite store (as ``carbontwin demo`` does), and each footprint's
payload is read back as stored. Timed: :func:`carbontwin.twin.footprint.canonical_json`
(a walk giving numbers their ECMAScript form, then ``orjson``) and
``rfc8785.dumps`` (pure Python), in turn over every payload, ``--rounds`` times; the
bytes of the two must be the same.

The last line printed is JSON: ``payloads``, ``bytes_median`` (size of one canonical
payload), ``carbontwin_us`` and ``rfc8785_us`` (median time of one payload over the
rounds [µs]), ``speedup`` (median over the rounds of the ratio), ``identical`` (payloads whose bytes are the same in both)
and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import rfc8785

from carbontwin.twin.footprint import canonical_json


def demo_payloads() -> list[dict[str, Any]]:
    """The payloads of the demo day's footprints, as the store keeps them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from carbontwin.api.demo import simulate_day
    from carbontwin.api.issuing import attribute_inputs, issue_footprints, read_inputs
    from carbontwin.plugins.signing import Signer
    from carbontwin.twin.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'store.db'}")
        try:
            day = simulate_day(seed=0)
            store.save_factory(day.factory)
            store.save_orders(day.orders)
            store.write_events(day.events)
            inputs = read_inputs(store)
            issued = issue_footprints(
                store, inputs, attribute_inputs(inputs), Signer(Ed25519PrivateKey.generate())
            )
            return [store.stored_footprint(fp.id).document["payload"] for fp in issued]
        finally:
            store.close()


def per_payload_us(
    fns: list[Any], payloads: list[dict[str, Any]], rounds: int
) -> list[list[float]]:
    """Per function, the mean time of one payload in each round [µs]; the functions
    take turns within a round, so a loaded machine slows them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            for p in payloads:
                fn(p)
            out.append((time.perf_counter() - t0) / len(payloads) * 1e6)
    return times


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200, help="passes over the payloads")
    args = ap.parse_args(argv)
    payloads = demo_payloads()
    ours = [canonical_json(p) for p in payloads]
    theirs = [rfc8785.dumps(p) for p in payloads]
    ours_t, theirs_t = per_payload_us([canonical_json, rfc8785.dumps], payloads, args.rounds)
    fast, slow = statistics.median(ours_t), statistics.median(theirs_t)
    ratio = statistics.median(b / a for a, b in zip(ours_t, theirs_t, strict=True))
    out = {
        "payloads": len(payloads),
        "bytes_median": statistics.median(len(b) for b in ours),
        "carbontwin_us": round(fast, 1),
        "rfc8785_us": round(slow, 1),
        "speedup": round(ratio, 1),  # median over the rounds
        "identical": sum(a == b for a, b in zip(ours, theirs, strict=True)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(
        f"{len(payloads)} payloads of ~{out['bytes_median']} bytes: carbontwin {fast:.1f} µs, "
        f"rfc8785 {slow:.1f} µs ({out['speedup']}x), {out['identical']} identical",
        file=sys.stderr,
    )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
