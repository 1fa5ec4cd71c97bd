"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def test_mode_cache(tmp_path_factory) -> Path:
    """One model cache for every test that executes notebooks in test mode: the test-mode models
    a notebook trains are trained once per test session, then loaded by the next notebook that
    asks for them. `make test` points VAELIB_CACHE at a fresh folder for the unit tests and nbval
    together (so nbval loads what the unit tests trained); without it, a fresh temporary folder.
    Only vaelib's own training writes to it: a student's exercise never trains a cached run."""
    env = os.environ.get("VAELIB_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("vaelib-cache")
