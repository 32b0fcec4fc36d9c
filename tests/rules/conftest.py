"""Precision and recall of the rule pack over the shared corpus, printed after the run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class Score:
    tp: int = 0  # a fault the data shows, found
    fn: int = 0  # a fault the data shows, missed
    fp: int = 0  # a finding on data that shows no fault
    tn: int = 0  # nothing found on data that shows no fault

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


SCORES: dict[str, Score] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SCORES:
        return
    terminalreporter.section("rule pack over ../shared/corpus")
    terminalreporter.write_line(f"{'domain':24} {'precision':>9} {'recall':>7}   tp  fn  fp   tn")
    for domain, s in sorted(SCORES.items()):
        terminalreporter.write_line(
            f"{domain:24} {s.precision:9.3f} {s.recall:7.3f} {s.tp:4} {s.fn:3} {s.fp:3} {s.tn:4}"
        )
