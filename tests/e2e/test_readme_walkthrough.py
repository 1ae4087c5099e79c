"""The README's "Onboard a tenant" block, run as written in a clean shell.

The block is the user's first contact with the embedded cloud, and it is the
path users take on AWS: profiles and an endpoint from the environment, no
option of the embedded cloud's own. Only its first line changes here: the
session has already run ``make setup``, so the shell just activates the
virtualenv. It runs in a scratch directory holding a copy of the embedded
registry, so the repository's own file is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-readme")]

SETUP_LINE = "make setup && source .venv/bin/activate"


def readme_walkthrough() -> str:
    """The bash block that follows "This works verbatim on the embedded cloud"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("This works verbatim on the embedded cloud")
    match = re.compile(r"```bash\n(.*?)```", re.S).search(text, start)
    assert match is not None, "the README's walkthrough block is missing"
    return match.group(1)


def _clean_environment(home: Path) -> dict[str, str]:
    """A shell with no AWS configuration or tenantctl settings of the caller's."""
    keep = {"PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "HOME": str(home), "COLUMNS": "120", "AWS_EC2_METADATA_DISABLED": "true"}


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    block = readme_walkthrough()
    lines = block.splitlines()
    assert lines[0].split("#")[0].strip() == SETUP_LINE
    script = "\n".join([f"source {ROOT / '.venv' / 'bin' / 'activate'}", *lines[1:]])
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    registry = work / "config" / "tenants.local.yaml"
    shutil.copyfile(ROOT / "config" / "tenants.local.yaml", registry)
    before = registry.read_text(encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_environment(home)
    try:
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        # A failed step leaves the cloud running: stop it (by its state file) either way.
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "tenantctl"), "local", "down"],
            cwd=work,
            env=env,
            capture_output=True,
            timeout=60,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "onboarded tenant 'initech' (account 444444444444" in run.stdout
    assert "restarting the embedded cloud to add account(s) 444444444444" in run.stdout
    # invoke answered through initech's own function, then its record was read back.
    assert "anthropic.claude" in run.stdout or "amazon.nova" in run.stdout
    assert "alice" in run.stdout
    # The streamed call: acme's workload role, through the client library, its record read back.
    assert "first token" in run.stdout and "success" in run.stdout
    assert "removed tenant 'initech'" in run.stdout
    assert registry.read_text(encoding="utf-8") == before
    assert [t["id"] for t in YAML().load(registry)["tenants"]] == [
        t["id"] for t in YAML().load(ROOT / "config" / "tenants.local.yaml")["tenants"]
    ]
