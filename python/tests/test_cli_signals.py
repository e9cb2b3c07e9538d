"""SIGTERM and SIGHUP unwind a command as Ctrl-C does (cli/signals.py), also when the signal
lands while Python runs a finalizer, where it drops the handler's exception."""

from __future__ import annotations

import os
import signal

import pytest

from skypewatch.cli.signals import Terminated, stop_signals_unwind


class _Finalized:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # the handler runs in here, where Python drops its exception
            pass


def test_a_stop_lost_in_a_finalizer_is_raised_when_the_block_ends(capsys):
    went_on = False
    with pytest.raises(Terminated) as err, stop_signals_unwind():
        x = _Finalized()
        del x
        went_on = True  # the stop was lost there: the block went on
    assert err.value.signum == signal.SIGTERM and went_on
    assert "Exception ignored" not in capsys.readouterr().err


def test_a_stop_raised_where_it_lands_is_raised_once():
    ran_after = False
    with pytest.raises(Terminated), stop_signals_unwind():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):
            pass
        ran_after = True
    assert not ran_after


def test_the_handlers_and_the_hook_are_put_back():
    import sys

    before = signal.getsignal(signal.SIGTERM), sys.unraisablehook
    with stop_signals_unwind():
        pass
    assert (signal.getsignal(signal.SIGTERM), sys.unraisablehook) == before
