"""``/orders``: production orders (from the factory file or sent separately)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from carbontwin.api.deps import ReadDep, WriteDep
from carbontwin.twin.model import Order

router = APIRouter(prefix="/orders", tags=["orders"])


class OrderBase(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    product: str = Field(min_length=1, max_length=200)
    quantity: float = Field(gt=0, allow_inf_nan=False)
    release: AwareDatetime
    due: AwareDatetime


class OrderCreate(OrderBase):
    pass


class OrderPublic(OrderBase):
    pass


class OrdersSaved(BaseModel):
    saved: int


def order_public(o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "product": o.product,
        "quantity": o.quantity,
        "release": o.release,
        "due": o.due,
    }


@router.get("", operation_id="list_orders", response_model=list[OrderPublic])
def list_orders(services: ReadDep) -> Any:
    return [order_public(o) for o in services.store.list_orders()]


@router.put("", operation_id="put_orders", response_model=OrdersSaved)
def put_orders(orders: list[OrderCreate], services: WriteDep) -> Any:
    """Insert or replace orders by id."""
    n = services.store.save_orders(
        [Order(o.id, o.product, o.quantity, o.release, o.due) for o in orders]
    )
    return {"saved": n}


@router.get("/{order_id}", operation_id="get_order", response_model=OrderPublic)
def get_order(order_id: str, services: ReadDep) -> Any:
    return order_public(services.store.get_order(order_id))
