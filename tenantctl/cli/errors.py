"""Errors the CLI reports as one line, ``error: <field>: <message>``, with an exit code."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on; printed without a traceback (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(CliError):
    """Input the command refuses: a bad argument, an unknown tenant (exit 2)."""

    exit_code = 2
