"""The ``tenantctl`` command line.

Importing this package registers every command on :data:`app`; ``main`` is the
console-script entry point declared in pyproject.toml.
"""

from tenantctl.cli import aws_commands, deploy_commands, local_commands, registry_commands
from tenantctl.cli.app import app, main
from tenantctl.doctor import doctor_command

app.command("doctor")(doctor_command)

__all__ = [
    "app",
    "aws_commands",
    "deploy_commands",
    "local_commands",
    "main",
    "registry_commands",
]
