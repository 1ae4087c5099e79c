"""A registry's problems, each at the path of the field it concerns."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict


class RegistryIssue(BaseModel):
    """One problem in a registry, at a field path such as ``tenants[2].account_id``."""

    model_config = ConfigDict(frozen=True)
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RegistryError(Exception):
    """A registry that cannot be used; carries every issue found."""

    def __init__(self, issues: Sequence[RegistryIssue], source: str | None = None) -> None:
        self.issues = list(issues)
        self.source = source
        super().__init__("\n".join(str(i) for i in self.issues))
