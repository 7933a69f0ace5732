"""Shared pytest options. ``--update-goldens`` rewrites the fix goldens (tests/fixes) from the code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest puts tests/ on sys.path for this file, where tests/rules (a plain directory) would be imported as a
# namespace package under bare `pytest`; with the project root on the path the real `rules` package wins.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/fixes/<rule>/<case>.out.yaml and .patch from the current fixes")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))
