"""Fixtures of the simulator tests."""

from __future__ import annotations

import pytest
from sim_helpers import small_factory

from carbontwin.twin.model import Factory


@pytest.fixture
def small() -> Factory:
    """The small three-machine factory of :mod:`sim_helpers`."""
    return small_factory()
