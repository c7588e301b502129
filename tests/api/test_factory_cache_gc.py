"""A built factory model leaves the cyclic collector's generations (see api/_cache.py)."""

from __future__ import annotations

import gc

from carbontwin.api._cache import FactoryCache
from carbontwin.twin.examples import demo_factory


class _Store:
    def __init__(self) -> None:
        self.loads = 0

    def load_factory(self, version: int):
        self.loads += 1
        return demo_factory()


def test_a_built_factory_is_frozen_out_of_full_collections_and_built_once():
    cache, store = FactoryCache(2), _Store()
    try:
        before = gc.get_freeze_count()
        factory = cache.get(store, "default", 1)
        assert gc.is_tracked(factory)
        # tracked, yet in no generation a collection scans: the permanent one
        assert not any(o is factory for o in gc.get_objects())
        assert not any(o is factory.machines[0] for o in gc.get_objects())
        assert gc.get_freeze_count() > before
        assert cache.get(store, "default", 1) is factory
        assert store.loads == 1
    finally:
        gc.unfreeze()
