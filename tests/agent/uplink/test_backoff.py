"""Backoff: exponential growth, the cap, ±20% jitter, reset, and the server's floor."""

from __future__ import annotations

import random

import pytest

from agent.uplink.backoff import Backoff


def without_jitter(initial: float = 1.0, maximum: float = 60.0) -> Backoff:
    return Backoff(initial, maximum, jitter=0.0)


def test_grows_by_factor_until_the_cap() -> None:
    b = without_jitter(1.0, 60.0)
    assert [b.next_delay() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_custom_factor() -> None:
    b = Backoff(0.5, 100.0, factor=3.0, jitter=0.0)
    assert [b.next_delay() for _ in range(5)] == [0.5, 1.5, 4.5, 13.5, 40.5]


def test_reset_starts_over_from_initial() -> None:
    b = without_jitter()
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert [b.next_delay() for _ in range(3)] == [1, 2, 4]


@pytest.mark.parametrize("seed", range(20))
def test_jitter_stays_within_20_percent_of_the_schedule(seed: int) -> None:
    b = Backoff(1.0, 30.0, rng=random.Random(seed))
    schedule = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
    for expected in schedule:
        d = b.next_delay()
        assert 0.8 * expected <= d <= 1.2 * expected


def test_jitter_actually_spreads_the_delays() -> None:
    """A fleet must not come back in lockstep: delays from different agents differ."""
    firsts = {Backoff(1.0, 30.0, rng=random.Random(seed)).next_delay() for seed in range(50)}
    assert len(firsts) == 50
    assert min(firsts) < 0.9 and max(firsts) > 1.1  # both sides of the nominal value


def test_same_seed_same_delays() -> None:
    a = Backoff(1.0, 30.0, rng=random.Random(42))
    b = Backoff(1.0, 30.0, rng=random.Random(42))
    assert [a.next_delay() for _ in range(8)] == [b.next_delay() for _ in range(8)]


@pytest.mark.parametrize("seed", range(20))
def test_never_longer_than_the_ceiling(seed: int) -> None:
    b = Backoff(1.0, 10.0, rng=random.Random(seed))
    assert b.ceiling == pytest.approx(12.0)
    for _ in range(30):
        assert b.next_delay() <= 12.0


@pytest.mark.parametrize("seed", range(20))
def test_at_least_is_a_floor_even_with_jitter(seed: int) -> None:
    b = Backoff(1.0, 300.0, rng=random.Random(seed))
    for _ in range(10):
        d = b.next_delay(at_least=10.0)
        assert 10.0 <= d <= b.ceiling
    b.reset()
    d = b.next_delay(at_least=10.0)
    assert 10.0 <= d <= 12.0  # jittered upwards only


def test_a_floor_above_the_schedule_does_not_change_the_schedule() -> None:
    b = without_jitter(1.0, 60.0)
    assert b.next_delay(at_least=5.0) == 5.0
    assert [b.next_delay() for _ in range(3)] == [2, 4, 8]


def test_a_floor_below_the_schedule_changes_nothing() -> None:
    b = without_jitter(1.0, 60.0)
    assert [b.next_delay(at_least=0.5) for _ in range(3)] == [1, 2, 4]


@pytest.mark.parametrize("seed", range(10))
def test_a_floor_above_the_ceiling_is_clipped_to_it(seed: int) -> None:
    b = Backoff(1.0, 30.0, rng=random.Random(seed))
    assert b.next_delay(at_least=10_000.0) == pytest.approx(36.0)
