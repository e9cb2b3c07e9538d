"""The log writer's string columns skip escape() when a value needs nothing (writer._text):
the same text as escape() for every value, the ones that need escaping included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypewatch.skypelog import Stage
from skypewatch.zeeklog.format import EMPTY, UNSET, escape
from skypewatch.zeeklog.writer import _text


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
