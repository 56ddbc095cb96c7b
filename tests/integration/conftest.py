"""Fixtures for integration tests (the loopback mirror itself is in tests/conftest.py)."""

import pytest


@pytest.fixture
def host_root(tmp_path):
    """A fresh install root and link dir per test."""
    return str(tmp_path / 'pbs'), str(tmp_path / 'bin')
