"""Fixtures for the ticket tests: a real Roundup tracker per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The store contract's backends (SQLite, and PostgreSQL when reachable) for the lifecycle.
from tests.collector.store.test_store_contract import backend, postgres_url, store  # noqa: F401
from tests.collector.tickets.contract import ContractServer, serve
from tests.helpers.roundup_tracker import RoundupServer, install_tracker


@pytest.fixture
def server() -> Iterator[ContractServer]:
    """A contract server for an adapter test; every test ends clean: no contract
    violation, no undocumented endpoint."""
    with serve() as srv:
        yield srv
        assert srv.failures == []
        assert srv.unexpected == []


@pytest.fixture(scope="session")
def roundup_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One installed and initialised tracker home, copied for each test (install and
    initialise take most of the setup time; the copy is retargeted to its own port)."""
    home = tmp_path_factory.mktemp("roundup-template") / "tracker"
    install_tracker(home, port=1)
    return home


@pytest.fixture
def roundup(tmp_path: Path, roundup_template: Path) -> Iterator[RoundupServer]:
    """A fresh tracker served by its own roundup-server on 127.0.0.1, stopped afterwards."""
    with RoundupServer(tmp_path / "roundup", template=roundup_template) as server:
        yield server
