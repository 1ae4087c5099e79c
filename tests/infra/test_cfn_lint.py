"""cfn-lint over every synthesized template: zero errors, zero warnings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aws_cdk.assertions import Template


def test_every_template_passes_cfn_lint(templates: dict[str, Template], tmp_path: Path) -> None:
    paths = []
    for name, template in templates.items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(template.to_json()))
        paths.append(str(path))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *paths],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.stdout == "" and result.returncode == 0, result.stdout + result.stderr
