"""Fuzzing factory files: any document is a Factory or a FactoryModelError, fast.

Three kinds of input: the demo factory file mutated (lines dropped, doubled,
overwritten, the text cut off), arbitrary JSON-like trees written as YAML or
JSON, and arbitrary text. Any other exception, or an example slower than the
deadline, fails the test.
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbontwin.twin.errors import FactoryModelError
from carbontwin.twin.examples import demo_factory_path
from carbontwin.twin.factory_file import loads_factory
from carbontwin.twin.model import Factory

DEMO = demo_factory_path().read_text(encoding="utf-8")
LINES = DEMO.splitlines()
FUZZ = settings(
    max_examples=100, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["15 kW", "90 s", "1.2 t", "-3 kW", "1e308 kWh", "off", "*", "&a"]),
)
trees = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=5),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "name",
                    "site",
                    "machines",
                    "meters",
                    "lines",
                    "products",
                    "orders",
                    "power",
                    "measures",
                    "factors",
                    "utilities",
                    "materials",
                    "x",
                ]
            ),
            kids,
            max_size=6,
        ),
    ),
    max_leaves=40,
)


@st.composite
def mutated_demo(draw) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "double", "overwrite", "cut"]))
        if op == "drop":
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "overwrite":
            lines[i] = draw(st.text(max_size=40))
        else:
            lines = lines[:i]
        if not lines:
            break
    return "\n".join(lines) + "\n"


def _load(text: str, name: str) -> None:
    got: Factory | None = None
    err: FactoryModelError | None = None
    try:
        got = loads_factory(text, name)
    except FactoryModelError as exc:
        err = exc
    if err is not None:
        assert err.errors, "a factory error lists its problems"
        assert all(isinstance(e, str) and e for e in err.errors)
    else:
        assert isinstance(got, Factory)


@FUZZ
@given(mutated_demo())
def test_mutated_demo_factory(text):
    _load(text, "factory.yaml")


@FUZZ
@given(trees, st.sampled_from(["yaml", "json"]))
def test_arbitrary_trees(tree, fmt):
    text = json.dumps(tree) if fmt == "json" else yaml.safe_dump(tree, allow_unicode=True)
    _load(text, f"factory.{fmt}")


@FUZZ
@given(st.text(max_size=300), st.sampled_from(["factory.yaml", "factory.json"]))
def test_arbitrary_text(text, name):
    _load(text, name)


def test_the_mutations_reach_both_outcomes():
    """The fuzzer is not vacuous: the unmutated file loads, a cut-off one is refused."""
    assert isinstance(loads_factory(DEMO, "factory.yaml"), Factory)
    cut = "\n".join(LINES[: len(LINES) // 3]) + "\n"
    with pytest.raises(FactoryModelError):
        loads_factory(cut, "factory.yaml")
