"""One route module per resource; :func:`all_routers` lists them in mount order."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["all_routers"]


def all_routers() -> list[APIRouter]:
    from . import (
        admin,
        auth,
        cbam,
        events,
        factors,
        factory,
        footprints,
        health,
        insights,
        labels,
        manifest,
        orders,
        pact_v2,
        pact_v3,
        pages,
        public,
        schedules,
        simulations,
        well_known,
    )

    return [
        pages.router,
        health.router,
        auth.router,
        well_known.router,
        manifest.router,
        factory.router,
        events.router,
        orders.router,
        factors.router,
        footprints.router,
        labels.router,
        insights.router,
        schedules.router,
        simulations.router,
        cbam.router,
        public.router,
        public.publish_router,
        pact_v3.router,
        pact_v2.router,
        admin.router,
    ]
