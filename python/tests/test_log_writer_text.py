"""The log writer's string, string-set and bool columns skip the general formatting when a
value needs nothing (writer._text, _texts, _flag): the same text as escape() and
format_value() for every value, the ones that need escaping included.  Sets are held to
each item escaped on its own (what format_value wrote before the shortcut, which it now
shares)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypewatch.skypelog import Stage
from skypewatch.zeeklog.format import EMPTY, SET_SEPARATOR, UNSET, escape
from skypewatch.zeeklog.writer import _flag, _text, _texts, format_value


class _Named(str):
    """A str whose str() is not its own text: the column writes str() of it."""

    def __str__(self) -> str:
        return "named\t"


@pytest.mark.parametrize(
    "value",
    [
        "",
        UNSET,
        EMPTY,
        "-x",
        "(empty) ",
        "a\tb",
        "back\\slash",
        "10.0.0.1",
        "CHhAvVGS1DHFjwGM9",
        "caf\u00e9",
        "nul\x00",
        "del\x7f",
        "\udcff",  # a byte that was not UTF-8, kept by surrogateescape
        "line\nbreak",
        " spaces ",
        Stage.PROBE,
        _Named("x"),
        12,
    ],
)
def test_a_string_column_is_escaped_as_escape_does(value):
    assert _text(value) == escape(str(value))


def test_unset_is_unset():
    assert _text(None) == UNSET


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_any_text_comes_out_as_escape_gives_it(s):
    assert _text(s) == escape(s)


def _item_by_item(value) -> str:
    items = sorted(value) if isinstance(value, frozenset) else list(value)
    if not items:
        return EMPTY
    return SET_SEPARATOR.join(escape(str(x), in_set=True) for x in items)


@pytest.mark.parametrize(
    "items",
    [
        [],
        [""],
        ["a", ""],
        ["sslv2_hello", "fake_tls_junk", "tcp_fallback_chain"],
        ["a,b"],
        ["a", "b,"],
        [UNSET],
        ["x", EMPTY],
        ["tab\there"],
        ["back\\slash"],
        ["\udcff"],
        [_Named("x"), "y"],
        ["10.0.0.1", "10.0.0.2"],
    ],
)
@pytest.mark.parametrize("container", [frozenset, list])
def test_a_set_or_vector_of_strings_is_written_as_format_value_does(items, container):
    value = container(items)
    assert _texts(value) == _item_by_item(value)
    for ztype in ("set[string]", "vector[string]"):
        assert format_value(ztype, value) == _item_by_item(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=5), st.booleans())
def test_any_strings_come_out_as_format_value_gives_them(items, as_set):
    value = frozenset(items) if as_set else items
    assert _texts(value) == format_value("set[string]", value) == _item_by_item(value)


@pytest.mark.parametrize("v", [None, True, False, 0, 1])
def test_a_bool_column_is_written_as_format_value_does(v):
    assert _flag(v) == format_value("bool", v)
    assert _texts(None) == format_value("set[string]", None)
