"""Windowed issuing: attribute the closed windows, issue the orders they complete.

:func:`issue_windows` (``carbontwin issue``, ``POST /footprints/issue``) attributes
each closed window not attributed yet alone and stores its pieces, then issues
every order whose last step's window has closed from its pieces of all its windows;
:func:`_stale_starts` and :func:`_dirty` find the stored windows late data (or
another factory version, factors or rules, :func:`_window_key`) reached.
:func:`order_from_windows` combines one order's figures from the pieces its
windows hold, reading no event (the plant views of a large store). See
``docs/architecture.md`` ("Windowed issuing").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from carbontwin.twin.attribution import Attribution, Rules
from carbontwin.twin.events import EventBatch
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.model import Factory
from carbontwin.twin.store import Signer

from ._shared import (
    _allocation_targets,
    _same,
    _withdrawn_since,
    carbontwin_version,
    rules_from,
    with_orders,
)

#: what a windowed issuing run does (see :func:`issue_windows`)
STAGES = ("all", "attribute", "issue")


@dataclass(frozen=True, slots=True, eq=False)
class WindowRun:
    """What one windowed issuing run did."""

    windows: tuple[tuple[float, float], ...]  # attributed in this run
    issued: tuple[Footprint, ...]
    waiting: tuple[str, ...]  # orders whose last step's window has not closed
    closed_until: float | None  # end of the last closed window [epoch s]


def _plant_orders(store: Any, factory: Factory, order_ids: Iterable[str]) -> Factory:
    """``factory`` with the stored orders among ``order_ids`` (:func:`with_orders`): only the
    orders a window or an issue needs are read, however many the store holds."""
    return with_orders(factory, store.orders_by_id(order_ids))


@dataclass(frozen=True, slots=True, eq=False)
class _WindowTask:
    """One window to attribute (pickled to a Dask or process-pool worker)."""

    factory: Factory
    events: EventBatch
    factors: FactorSet
    rules: Rules
    start: float
    end: float


def _attribute_window_task(task: _WindowTask) -> Any:
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.twin.windows import attribute_window

    return attribute_window(
        task.factory,
        task.events,
        task.factors,
        task.rules,
        task.start,
        task.end,
        allocation=allocation_rules(),
    )


def _stale_starts(store: Any, stored: list[Any], key: str, cursor: int | None = None) -> set[float]:
    """Starts of the ``stored`` windows to attribute again (:func:`_dirty`), against the
    ingest spans recorded since the oldest of them was checked (spans up to the tenant's
    checked cursor met every window already), up to span id ``cursor`` when given (the
    spans this run checks)."""
    checked = store.windows_checked_span()
    since = max(checked, min((w.span for w in stored), default=cursor or 0))
    spans = [s for s in store.ingest_spans(since) if cursor is None or s[0] <= cursor]
    return _dirty(stored, spans, key, checked)


def _dirty(
    windows: Iterable[Any], spans: list[tuple[int, float, float]], key: str, checked: int = 0
) -> set[float]:
    """Starts of attributed windows to attribute again: made with another factory version,
    rules or factors (``key``), or reached by an event batch (or retraction) stored
    after they were last checked: one whose time span meets the time the window's slice
    depends on (its ``reach``, :func:`carbontwin.twin.windows.slice_reach`; for windows
    stored without one, the window and its neighbours, the last one open-ended). Spans
    up to ``checked`` were checked against every window already."""
    import numpy as np

    ws = sorted(windows, key=lambda w: w.start)
    out = {w.start for w in ws if w.key != key}
    if not spans or not ws:
        return out
    lo = np.empty(len(ws))
    hi = np.empty(len(ws))
    for i, w in enumerate(ws):
        if w.reach is not None:
            lo[i], hi[i] = w.reach
        else:  # the window just before and after it, whose carried readings it may change
            lo[i] = ws[i - 1].start if i > 0 else w.start
            hi[i] = ws[i + 1].end if i + 1 < len(ws) else np.inf
    cursor = np.array([max(w.span, checked) for w in ws])
    sp = np.asarray(spans, dtype=np.float64).reshape(-1, 3)
    for k in range(0, len(sp), 4096):  # windows x spans at a time, in bounded memory
        sid, t_min, t_max = (sp[k : k + 4096, j][None, :] for j in range(3))
        hit = (sid > cursor[:, None]) & (t_max >= lo[:, None]) & (t_min <= hi[:, None])
        out.update(ws[i].start for i in np.flatnonzero(hit.any(axis=1)))
    return out


def issue_windows(
    store: Any,
    signer: Signer,
    rules: Rules | Mapping[str, Any] | None = None,
    *,
    factors: FactorSet | None = None,
    window: str = "day",
    until: float | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 1,
    batch: int = 1000,
    on_window: Any = None,
    stage: str = "all",
) -> WindowRun:
    """Attribute the closed windows not attributed yet and issue the orders they complete.

    A window ``[start, end)`` is closed when ``end <= until`` (default: the
    latest stored event time). Each closed window not attributed yet — or
    attributed before late data reached it, or with another factory version,
    rules or factors — is attributed alone from its events and the state
    carried in (:mod:`carbontwin.twin.windows`), its pieces stored in one
    transaction. Then every order with energy in those windows whose last step
    ends within the closed time is issued (a new version where its figures
    changed), from its pieces of all its windows, in transactions of ``batch``
    footprints. Work scales with the windows attributed, not the history.

    ``executor="dask"`` attributes windows in parallel on the cluster at
    ``scheduler`` (``"local"`` with ``workers`` > 1: a process pool); results
    are identical wherever they ran. ``on_window(done, total)`` reports progress.

    The orders of every window no issuing pass has gone through since it was
    attributed are issued too (``Store.pending_windows``): a run that stopped
    between storing a window and issuing its orders loses nothing. ``stage``
    splits the work between two processes side by side: ``"attribute"`` only
    attributes and stores windows, ``"issue"`` only issues the orders of pending
    windows; ``"all"`` (the default) does both.
    """
    import numpy as np
    import pandas as pd

    from carbontwin.api.errors import Conflict
    from carbontwin.plugins.factors import stored_factors
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.twin.factory_file import order_to_dict
    from carbontwin.twin.lineage import factors_lineage, input_sha256, sha256_json
    from carbontwin.twin.store import NotFoundError
    from carbontwin.twin.store._windows import StoredWindow
    from carbontwin.twin.windows import combine, read_pieces, window_bounds

    if stage not in STAGES:
        msg = f"stage {stage!r} is not one of {', '.join(STAGES)}"
        raise ValueError(msg)
    try:
        fv, doc = store.factory_document()
        factory = store.load_factory(fv)
    except NotFoundError:
        msg = "no factory stored yet: PUT /factory first"
        raise Conflict(msg, field="factory") from None
    rules = rules_from(rules)
    if factors is None:
        factors = stored_factors(factory, store)
    allocation = allocation_rules()
    fsha = sha256_json(doc)  # the factory version; each order's own record is added per order
    fl = factors_lineage(factors)
    key = _window_key(fsha, fl["sha256"], rules)
    ext = store.events_extent()
    if ext is None:
        return WindowRun((), (), (), None)
    t_end = ext[1] if until is None else min(float(until), ext[1])
    bounds = window_bounds(factory, ext[0], t_end, window=window, idle_period=rules.idle_period)
    closed = [
        (float(a), float(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b <= t_end
    ]
    if not closed:
        return WindowRun((), (), (), None)
    closed_until = closed[-1][1]
    cursor = store.ingest_span_cursor()  # spans up to it are checked in this run
    stored = store.attributed_windows()
    todo: list[tuple[float, float]] = []  # an issuing-only run leaves them to another process
    if stage != "issue":
        # a window layout that changed (earlier data moved the first window's start, another
        # window length): the windows that do not fit are dropped and their time redone
        layout = {a: b for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)}
        stale = [w for w in stored if layout.get(w.start) != w.end]
        if stale:
            store.delete_windows(w.start for w in stale)
            stored = [w for w in stored if layout.get(w.start) == w.end]
        have = {w.start for w in stored}
        dirty = _stale_starts(store, stored, key, cursor)  # reached by late data
        todo = [(a, b) for a, b in closed if a not in have or a in dirty]
    win_of = {w.start: w for w in stored}  # digests for the lineage; new windows join below
    meters = [m.id for m in factory.meters]
    assets = sorted(factory.asset_ids)
    touched: set[str] = set()
    fresh: dict[float, tuple[Any, dict[str, Any]]] = {}
    step = max(1, 2 * max(workers, 1)) if executor == "local" else 16
    done = 0
    for i in range(0, len(todo), step):
        group = todo[i : i + step]
        tasks = []
        for a, b in group:
            events = store.read_window(a, b, meters, assets)[0]
            plant = _plant_orders(store, factory, events.step_order.tolist())
            tasks.append(_WindowTask(plant, events, factors, rules, a, b))
        if executor == "local" and workers == 1:  # here, in this process
            results = [_attribute_window_task(t) for t in tasks]
        else:
            from carbontwin.simulation.executors import run_tasks

            results = run_tasks(
                _attribute_window_task,
                tasks,
                executor=executor,
                scheduler=scheduler,
                workers=workers,
            )
        for res in results:
            saved = StoredWindow(
                res.start,
                res.end,
                key,
                res.slice_sha256,
                res.slice_count,
                cursor,
                res.meta,
                res.reach,
            )
            store.save_window(saved, res.pieces_parquet(), list(res.orders))
            win_of[res.start] = saved
            fresh[res.start] = (res.pieces, res.meta)  # issued from memory, not read back
            if len(fresh) > 64:  # memory stays bounded on a long backfill: the rest are read
                fresh.pop(next(iter(fresh)))
            touched.update(o for o, _ in res.orders)
            done += 1
            if on_window is not None:
                on_window(done, len(todo))
    if stage != "issue":
        store.windows_checked(cursor)  # the others were checked against the spans up to it
    if stage == "attribute":
        return WindowRun(tuple(todo), (), (), closed_until)
    # --- issue the orders whose last step's window has closed --------------------------
    pending = store.pending_windows()  # this run's windows, and any a stopped run left
    if any(s not in win_of for s, _, _ in pending):  # attributed by another process
        win_of.update({w.start: w for w in store.attributed_windows()})
    touched |= store.window_order_ids(s for s, _, _ in pending)
    ow = store.order_windows(touched)
    last_end = store.order_last_end(touched)
    metas = store.window_meta({s for ws in ow.values() for s, _ in ws})
    held = {o for m in metas.values() for o in m.get("held", ())}
    ready = sorted(
        o
        for o, ws in ow.items()
        if ws and last_end.get(o, -np.inf) <= closed_until and o not in held
    )
    waiting = tuple(sorted(touched - set(ready)))
    allocation_of = _allocation_targets(rules, factory)
    ct_version = carbontwin_version()
    rule_names = rules.names()  # once per run, not per order
    issued: list[Footprint] = []
    blobs = fresh  # this run's windows; the others are read as the chunks need them
    digests: dict[tuple[tuple[float, str], ...], tuple[str, list[dict[str, Any]], int]] = {}
    for i in range(0, len(ready), batch):
        chunk = ready[i : i + batch]
        starts = sorted({s for o in chunk for s, _ in ow[o]})
        need = [s for s in starts if s not in blobs]
        for s, (saved, data) in store.window_records(need).items():
            blobs[s] = (read_pieces(data), saved.meta)
            # the digests of the pieces read (another process may have attributed the
            # window again since this run listed the windows): the lineage names them
            win_of[s] = saved
        gone = {s for s in need if s not in blobs}  # dropped meanwhile (a new layout)
        if gone:  # their orders wait for the windows that replace them
            later = {o for o in chunk if any(s in gone for s, _ in ow[o])}
            waiting = tuple(sorted({*waiting, *later}))
            chunk = [o for o in chunk if o not in later]
            starts = [s for s in starts if s not in gone]
            if not chunk:
                continue
        keep = set(chunk)
        frames = [blobs[s][0][blobs[s][0]["order"].isin(keep)] for s in starts]
        pieces = pd.concat(frames, ignore_index=True)
        plant = _plant_orders(store, factory, chunk)
        orders_of = {o.id: o for o in plant.orders}
        fps = combine(
            plant,
            store.order_events(chunk),
            pieces,
            [blobs[s][1] for s in starts],
            factors,
            rules,
            allocation=allocation,
            orders=chunk,
        )
        new: list[Footprint] = []
        latest_of = store.latest_footprints(chunk)
        for o in sorted(fps):
            fp = fps[o]
            starts_o = tuple(s for s, _ in ow[o] if s in win_of)
            dkey = tuple((s, win_of[s].slice_sha256) for s in starts_o)
            if dkey not in digests:  # orders of the same windows share their digest
                listed = [
                    {
                        "start": w.start,
                        "end": w.end,
                        "sha256": w.slice_sha256,
                        "count": w.slice_count,
                    }
                    for w in (win_of[s] for s in starts_o)
                ]
                digests[dkey] = (
                    sha256_json(listed),
                    listed,
                    int(sum(win_of[s].slice_count for s in starts_o)),
                )
            esha, listed, n_events = digests[dkey]
            order = orders_of.get(o)
            osha = sha256_json(
                {
                    "factory_sha256": fsha,
                    "order": None if order is None else order_to_dict(order),
                }
            )
            lineage = {k: fp.lineage.get(k, []) for k in ("filled_gaps", "supplier_pcfs")}
            lineage.update(
                {
                    "factory": {"version": int(fv), "sha256": osha, "version_sha256": fsha},
                    "events": {"sha256": esha, "count": n_events, "windows": listed},
                    "factors": fl,
                    "factor_versions": dict(fp.factor_versions),
                    "rules": dict(rule_names),
                    "allocation": dict(allocation_of),
                    "carbontwin_version": ct_version,
                    "input_sha256": input_sha256(osha, esha, fl["sha256"], rule_names),
                }
            )
            fp = replace(
                fp,
                factory=fp.factory or factory.id,
                company_id=fp.company_id or factory.company_id,
                lineage=lineage,
            )
            latest = latest_of.get(o)
            if latest is not None and (_same(fp, latest) or _withdrawn_since(latest, fp)):
                continue
            new.append(fp)
        if new and not issued:  # the factors of this run, kept once under their digest
            from carbontwin.twin.lineage import factors_to_dict

            store.save_issuance_input("factors", fl["sha256"], lambda: factors_to_dict(factors))
        issued += store.issue_footprints(new, signer)
        if len(blobs) > 64:  # keep memory bounded: windows of later chunks are read again
            blobs.clear()
    store.windows_issued(pending)  # only now: a run stopped before left them pending
    return WindowRun(tuple(todo), tuple(issued), waiting, closed_until)


def _window_key(factory_sha256: str, factors_sha256: str, rules: Rules) -> str:
    """What a window's pieces were attributed with: the factory version, the factors and
    the rules (a window stored under another key is attributed again)."""
    from carbontwin.twin.lineage import sha256_json

    return sha256_json(
        {"factory": factory_sha256, "factors": factors_sha256, "rules": rules.names()}
    )


def order_from_windows(
    store: Any, factory: Factory, order: str, steps: EventBatch
) -> Attribution | None:
    """``order``'s part of the attribution, combined from the pieces its attributed
    windows hold, as windowed issuing combines them: no event is read but the order's
    own ``steps`` (``Store.order_events``), whatever the plant's size. ``None``
    (attribute its periods instead) unless the windows stored for the time its steps
    span tile it, were attributed with the store's factory version, its factors and the
    default rules, and no event stored since reaches them, and the order was not held
    in any of them (readings no factor covers)."""
    import pandas as pd

    from carbontwin.plugins.factors import stored_factors
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.twin.lineage import factors_lineage, sha256_json
    from carbontwin.twin.windows import combined_attribution, read_pieces

    if not steps.step_start.size:
        return None
    first, last = float(steps.step_start.min()), float(steps.step_end.max())
    stored = store.attributed_windows()
    reach = [w for w in stored if w.end > first and w.start < max(last, first + 1e-9)]
    tiled = all(a.end == b.start for a, b in zip(reach, reach[1:], strict=False))
    if not reach or reach[0].start > first or reach[-1].end < last or not tiled:
        return None
    _, doc = store.factory_document()
    plant = _plant_orders(store, factory, [order])
    factors = stored_factors(plant, store)
    rules = Rules()
    key = _window_key(sha256_json(doc), factors_lineage(factors)["sha256"], rules)
    starts = [w.start for w in reach]
    if set(starts) & _stale_starts(store, stored, key):
        return None
    records = store.window_records(starts)
    if set(records) != set(starts):  # attributed again or dropped meanwhile
        return None
    metas = [records[s][0].meta for s in starts]
    if any(order in m.get("held", ()) for m in metas):
        return None
    frames = [read_pieces(records[s][1]) for s in starts]
    pieces = pd.concat([f[f["order"] == order] for f in frames], ignore_index=True)
    return combined_attribution(
        plant, steps, pieces, metas, factors, rules, allocation=allocation_rules()
    )
