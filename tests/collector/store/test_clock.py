"""The observed clock: a simulated fleet's time, never behind the wall clock."""

from __future__ import annotations

from collector.store.clock import ObservedClock


class Wall:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def test_it_is_the_wall_clock_until_an_observation_runs_ahead() -> None:
    wall = Wall(1_000)
    clock = ObservedClock(wall)
    assert clock() == 1_000
    clock.observe(500)  # an old record (a backlog drain): time does not go back
    assert clock() == 1_000
    wall.t = 2_000
    assert clock() == 2_000


def test_it_jumps_to_the_newest_observation_and_then_runs_at_the_wall_clock_pace() -> None:
    wall = Wall(1_000)
    clock = ObservedClock(wall)
    clock.observe(86_400_000)  # a simulated day ahead
    assert clock() == 86_400_000
    clock.observe(3_000)  # an older record of another host
    assert clock() == 86_400_000
    wall.t = 1_250  # the simulation ended: time goes on from its last moment
    assert clock() == 86_400_250
    clock.observe(86_400_100)  # not newer than now
    assert clock() == 86_400_250
    clock.observe(90_000_000)
    assert clock() == 90_000_000


def test_a_restart_starts_from_the_stored_time() -> None:
    wall = Wall(1_000)
    clock = ObservedClock(wall, start_ms=50_000)
    assert clock() == 50_000
