"""The host context's expiry runs only when a tier's oldest entry can be due
(``expiry_due``).  A change to such an entry (``TieredTable.changes_front``) lowers that
bound to the changed table's new due time, and a refresh of another entry leaves it.  That
skip changes nothing: random updates -- refreshes, tier changes, evictions of full tables,
times that go back -- leave, step by step, the same tables as an expiry run at every step."""

from __future__ import annotations

import random

import pytest

from skypewatch.bounded import TieredTable
from skypewatch.verdict.host_context import HostContext, HostOptions

OPTS = HostOptions(
    probe_tcp_window=60.0, endpoint_idle=600.0, max_entries=8, fanout_min_peers=2, id_seq_min=3
)
HOSTS = [bytes((10, 0, 0, i)) for i in range(6)]
PORTS = [80, 443, 5000, 33033]


class _EveryRefreshMoves(TieredTable):
    """A table for which every refresh may move the oldest entry (the earlier rule)."""

    __slots__ = ()

    def changes_front(self, key: object, tier: int) -> bool:
        return True


class _ResetOnFrontChange(HostContext):
    """The rule before: any change to a tier's oldest entry makes the next packet run
    expiry (instead of lowering the bound to the changed table's due time)."""

    def _front_changed(self, table: TieredTable) -> None:
        self._dues[self._age_of[id(table)]] = float("-inf")
        self.expiry_due = float("-inf")


def _resetting_at_every_refresh() -> HostContext:
    ctx = _ResetOnFrontChange(OPTS)
    for table, _window, _time_of in ctx._aging():
        table.__class__ = _EveryRefreshMoves
    return ctx


def _expire_everything(ctx: HostContext, now: float) -> None:
    """The reference: every table pruned at every step, nothing skipped."""
    for table, window, time_of in ctx._aging():
        table.prune(lambda v, t=time_of, h=now - window: t(v) < h)


def _tables(ctx: HostContext) -> list[list[tuple[int, object, object]]]:
    out = []
    for table, _window, time_of in ctx._aging():
        out.append(sorted((table.tier_of(k), repr(k), time_of(v)) for k, v in table.items()))
    return out


def _step(ctx: HostContext, rng: random.Random, ts: float) -> None:
    a, b = rng.choice(HOSTS), rng.choice(HOSTS)
    p = rng.choice(PORTS)
    op = rng.randrange(6)
    if op == 0:
        ctx.note_probe(ts, a, b, p)
    elif op == 1:
        ctx.note_new_flow(ts, a, p, b, rng.random() < 0.7, rng.randrange(64))
    elif op == 2:
        ctx.prove_endpoint(ts, a, p)
    elif op == 3:
        ctx.prove_node(ts, a, p, rng.choice(("super_node", "login_server")))
    elif op == 4:
        ctx.note_attempt(ts, a, b, p)
    else:
        ctx.confirm_host(ts, a)


@pytest.mark.parametrize("seed", range(40))
def test_skipped_expiry_changes_nothing(seed):
    rng = random.Random(seed)
    lazy, eager = HostContext(OPTS), HostContext(OPTS)
    now = 1000.0
    for _ in range(600):
        now += rng.choice((0.0, 0.5, 5.0, 30.0, 61.0, 200.0, 650.0))
        ts = now - rng.choice((0.0, 0.0, 0.0, 90.0, 700.0))  # some late
        r = rng.random()
        _step(lazy, random.Random(r), ts)
        _step(eager, random.Random(r), ts)
        lazy.expire(now)
        _expire_everything(eager, now)
        assert _tables(lazy) == _tables(eager)


def _expiry_runs(ctx: HostContext) -> int:
    rng = random.Random(7)
    n = 0
    real = ctx._expire

    def counting(now: float) -> None:
        nonlocal n
        n += 1
        real(now)

    ctx._expire = counting  # type: ignore[method-assign]
    now = 0.0
    for _ in range(2000):
        now += 0.5
        _step(ctx, random.Random(rng.random()), now)
        ctx.expire(now)
    return n


def test_refreshes_skip_expiry_runs():
    """Not a tautology: on a busy context, fewer expiry runs than with a reset at every
    refresh (the first rule), and fewer than with a reset at every change of an oldest
    entry (the rule before the bound came down to the changed table's due time)."""
    lowered = _expiry_runs(HostContext(OPTS))
    reset_on_front = _expiry_runs(_ResetOnFrontChange(OPTS))
    reset_always = _expiry_runs(_resetting_at_every_refresh())
    assert lowered < 0.8 * reset_on_front
    assert reset_on_front < 0.8 * reset_always
