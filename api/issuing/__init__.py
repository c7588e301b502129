"""The issuing path: read the stored inputs, attribute them, issue signed footprints.

One package used by every way in: the HTTP routes (``POST /orders/{id}/footprint``,
``POST /footprints/attribute``), the ``demo`` and ``serve`` commands and
anything a host platform composes. See ``docs/architecture.md`` ("Issuing").

- :mod:`._history`: whole-history issuing: the inputs an issuing run reads
  (:func:`read_inputs`), their attribution (:func:`attribute_inputs`,
  :func:`attribute_stored`, :func:`attribute_span`, refused past
  ``max_history_events`` by :func:`check_history_size`) and the footprints issued
  from it (:func:`issue_footprints`, :func:`attribute_and_issue`,
  :func:`issue_with_report`);
- :mod:`._windows`: windowed issuing (:func:`issue_windows`, ``carbontwin issue``,
  ``POST /footprints/issue``) and one order's figures combined from its windows'
  pieces (:func:`order_from_windows`);
- :mod:`._shared`: what both share (:func:`rules_from`, :func:`with_orders`,
  :func:`carbontwin_version`, when a footprint issues nothing).

Every name is imported from here, ``carbontwin.api.issuing``.
"""

from __future__ import annotations

from ._history import (
    IssueInputs,
    IssueReport,
    attribute_and_issue,
    attribute_inputs,
    attribute_span,
    attribute_stored,
    check_history_size,
    history_exceeds,
    issue_footprints,
    issue_with_report,
    read_inputs,
)
from ._history import hold_uncovered_inputs as hold_uncovered_inputs
from ._shared import _VOLATILE as _VOLATILE
from ._shared import _same as _same
from ._shared import carbontwin_version, rules_from, with_orders
from ._windows import STAGES as STAGES
from ._windows import WindowRun, issue_windows
from ._windows import _dirty as _dirty
from ._windows import _plant_orders as _plant_orders
from ._windows import order_from_windows as order_from_windows

__all__ = [
    "IssueInputs",
    "WindowRun",
    "IssueReport",
    "attribute_and_issue",
    "attribute_span",
    "check_history_size",
    "history_exceeds",
    "attribute_inputs",
    "attribute_stored",
    "carbontwin_version",
    "issue_footprints",
    "issue_windows",
    "issue_with_report",
    "read_inputs",
    "rules_from",
    "with_orders",
]
