"""The ``tenantctl`` command line.

Importing this package registers every command on :data:`app`, one module per
command group; ``main`` is the console-script entry point declared in
pyproject.toml. The options every command shares are in
:mod:`tenantctl.cli.options`, the AWS accounts they reach in
:mod:`tenantctl.cli.targets`.
"""

from tenantctl.cli import (
    block_commands,
    cost_commands,
    deploy_commands,
    doctor_commands,
    import_commands,
    invoke_commands,
    local_commands,
    logs_commands,
    registry_commands,
    stackset_commands,
    usage_commands,
)
from tenantctl.cli.app import app, main

__all__ = [
    "app",
    "block_commands",
    "cost_commands",
    "deploy_commands",
    "doctor_commands",
    "import_commands",
    "invoke_commands",
    "local_commands",
    "logs_commands",
    "main",
    "registry_commands",
    "stackset_commands",
    "usage_commands",
]
