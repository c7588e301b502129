"""In-memory caches of one service worker: renderings of footprints and factory versions.

Issued footprints never change (append-only, signed at issuance), so what is
rendered from one (a PACT document, a label) is cached. A rendering also shows
whether a later version of its order exists (PACT ``status``) and names from
the newest factory version, so its key holds those too, read per request in one small query
(:meth:`carbontwin.twin.store.Store.footprint_head`): a newly issued version or a
newly saved factory gives new keys, never a stale answer. Keys start with the
tenant, so no tenant is ever answered from another one's entries.

Each worker process (``carbontwin serve --workers N``) has its own caches; they
are bounded LRUs (``Settings.response_cache_mb``, ``Settings.factory_cache_size``).
See docs/architecture.md, "How it grows".
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

__all__ = ["CachedResponse", "FactoryCache", "ResponseCache", "keep_out_of_full_collections"]


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A rendered response body with its media type and headers."""

    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


class ResponseCache:
    """A bounded LRU of rendered responses, at most ``max_bytes`` of bodies (0: off).

    ``get_or_render(key, render)`` returns the cached response or renders,
    keeps and returns it; ``hits`` and ``misses`` count the answers.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._lru: LRUCache[Hashable, CachedResponse] = LRUCache(
            maxsize=max(1, self.max_bytes), getsizeof=lambda r: len(r.body) + 256
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedResponse | None:
        with self._lock:
            found = self._lru.get(key)
            if found is not None:
                self.hits += 1
            return found

    def put(self, key: Hashable, value: CachedResponse) -> None:
        if self.max_bytes == 0 or len(value.body) + 256 > self.max_bytes:
            return  # off, or a body larger than the whole cache
        with self._lock:
            self._lru[key] = value

    def get_or_render(self, key: Hashable, render: Callable[[], CachedResponse]) -> CachedResponse:
        found = self.get(key)
        if found is not None:
            return found
        value = render()  # outside the lock: two threads may render the same key once each
        with self._lock:
            self.misses += 1
        self.put(key, value)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return int(self._lru.currsize)


class FactoryCache:
    """Built factory models by (tenant, version), at most ``size`` of them (LRU).

    Factory versions are immutable, so each is built from its stored document
    once per worker, whichever store object (tenant view) asks for it.
    """

    def __init__(self, size: int) -> None:
        self._lru: LRUCache[tuple[str, int], Any] = LRUCache(maxsize=max(1, size))
        self._lock = threading.Lock()

    def get(self, store: Any, tenant: str, version: int) -> Any:
        """The factory ``version`` of ``store`` (``store.load_factory(version)`` once)."""
        key = (tenant, int(version))
        with self._lock:
            found = self._lru.get(key)
        if found is None:
            found = store.load_factory(version)
            with self._lock:
                self._lru[key] = found
            keep_out_of_full_collections()
        return found


def keep_out_of_full_collections() -> None:
    """Move every object alive now to the cyclic garbage collector's permanent
    generation, after one full collection of the garbage among them: at the app's
    startup (what it imported) and after a factory is built for the cache.

    A cached factory model is many objects that live as long as the worker (a
    500-machine plant's about 27,000): left in the oldest generation, every full
    collection scans them all while requests wait (6 ms for those on a 2.2 GHz
    core, growing with the plant). Once per factory version and worker; an evicted
    version's memory is still freed when its last reference goes.
    """
    gc.collect()
    gc.freeze()
