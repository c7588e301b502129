"""``canonical_json``: RFC 8785 bytes, checked against the RFC's own examples and, over
generated JSON values, against the ``rfc8785`` package (a second implementation)."""

from __future__ import annotations

import math
import struct

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carbontwin.twin.footprint import canonical_json

# RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript serialisation
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_numbers_of_rfc8785_appendix_b(bits: str, text: str) -> None:
    value = _double(bits)
    assert canonical_json(value) == text.encode()
    assert canonical_json({"n": [value]}) == b'{"n":[' + text.encode() + b"]}"


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinities_are_refused(bits: str) -> None:
    # RFC 8785 Appendix B: NaN and Infinity "N/A" (section 3.2.2.3: an error)
    with pytest.raises(ValueError, match="not representable"):
        canonical_json({"x": [1.0, _double(bits)]})


def test_example_of_rfc8785_section_3_2_2() -> None:
    # the input of section 3.2.2 as Python values, and the output printed in section 3.2.3
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected.encode()


def test_key_order_of_rfc8785_section_3_2_3() -> None:
    # sorted by UTF-16 code units: the emoji (surrogates D83D DE00) before U+FB33,
    # which Python's code-point order puts the other way round
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    expected = "{" + ",".join(f'"{k}":"{value[k]}"' for k in keys).replace("\r", "\\r") + "}"
    assert canonical_json(value) == expected.encode()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.0, "5"),
        (-0.0, "0"),
        (1e-5, "0.00001"),  # Python writes 1e-05
        (-1.5e-5, "-0.000015"),
        (1e-7, "1e-7"),  # Python writes 1e-07
        (1.25e-7, "1.25e-7"),
        (1e16, "10000000000000000"),  # Python writes 1e+16
        (1.2345678901234567e19, "12345678901234567000"),
        (2.0**53 + 2, "9007199254740994"),
        ((1, 2.5, "x"), '[1,2.5,"x"]'),  # a tuple is an array
        ("\x00\x08\x0c\x1f\x7f", '"\\u0000\\b\\f\\u001f\x7f"'),  # section 3.2.2.2
    ],
)
def test_forms_that_python_writes_otherwise(value: object, text: str) -> None:
    assert canonical_json(value) == text.encode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**53, "exceeds safe integer domain"),  # beyond I-JSON (section 3.2.2.3)
        ({"a": -(2**53)}, "exceeds safe integer domain"),
        ({1: "x"}, "keys must be strings"),  # object names are strings
        ({"a": {None: 1}}, "keys must be strings"),
        ("\ud800", "non-UTF-8"),  # a lone surrogate is no Unicode text
        ({"\udfff": 1}, "surrogates not allowed"),
    ],
)
def test_what_is_not_i_json_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        canonical_json(value)


def test_a_string_holding_the_private_use_mark_is_written_exactly() -> None:
    value = {"a": "\ue0000\ue000", "b": 1e-5, "c": '"\ue0000\ue000"'}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).startswith(b'{"a":"\xee\x80\x800\xee\x80\x80","b":0.00001,')


# --- generated values against the rfc8785 package -------------------------------------

_EDGE_FLOATS = [
    0.0,
    -0.0,
    5.0,
    1e-4,
    9.999999999999999e-05,
    1e-6,
    9.99999999999e-7,
    1e-7,
    1e16,
    9999999999999998.0,
    1e21,
    9.999999999999999e20,
    2.0**53,
    -(2.0**53) - 2,
    5e-324,
    math.nan,
    math.inf,
    -math.inf,
]
_floats = st.one_of(st.floats(), st.sampled_from(_EDGE_FLOATS), st.floats(-1e-3, 1e-3))
_ints = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.sampled_from([2**53 - 1, -(2**53) + 1, 2**53, -(2**53), 2**64]),
)
# every code point, lone surrogates, controls and the astral plane included
_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
_keys = st.one_of(
    _text,
    st.sampled_from(["\ufb33", "\U0001f600", "\ue000", "a", "ab", "\x7f"]),
    st.integers(0, 3),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), _ints, _floats, _text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_keys, inner, max_size=5),
    ),
    max_leaves=25,
)


def _outcome(fn, value):
    try:
        return fn(value)
    except ValueError:
        return ValueError


@settings(max_examples=600, deadline=None)
@given(_json)
@example({"\U0001f600": 1, "\ufb33": 2})
@example({"a": 1e-5, "b": "\ue0001\ue000"})
@example([1e-5, 1e-7, 5.0, -0.0, 1e16, 1e21])
def test_same_bytes_as_the_rfc8785_package(value: object) -> None:
    assert _outcome(canonical_json, value) == _outcome(rfc8785.dumps, value)
