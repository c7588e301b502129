"""The same scenario on a Dask distributed cluster gives the same numbers as locally."""

from __future__ import annotations

import numpy as np
import pytest

from carbontwin.simulation.scenario import load_scenario, run_scenario
from carbontwin.twin.examples import example_path

distributed = pytest.importorskip("distributed")


@pytest.mark.dask
def test_local_cluster_matches_the_local_run():
    sc = load_scenario(example_path("demo_week.yaml"), replications=2)
    local = run_scenario(sc, workers=1)
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        done: list[int] = []
        remote = run_scenario(
            sc,
            executor="dask",
            scheduler=cluster.scheduler_address,
            on_done=lambda i, n: done.append(i),
        )
    assert done[-1] == len(sc.policies) * 2
    for n in local.names:
        for k in local.kpis:
            assert np.array_equal(remote.values[n][k], local.values[n][k]), (n, k)
