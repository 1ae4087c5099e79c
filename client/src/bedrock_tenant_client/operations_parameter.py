"""One JSON SSM parameter the tenant's operations stack writes for its function.

Values that exist only once the operations account has deployed (its
application inference profile ARNs, the guardrail it created) reach the
function through an SSM parameter there that only the tenant's invoker role may
read. Both readers share how it is read: the client is built on the first read
(none during init or a SnapStart snapshot), a missing parameter is ``NOT_FOUND``
(a JSON ``null`` is a value, held to the caller's rules), and a value that is not
JSON is the caller's error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from botocore.exceptions import ClientError

# What ``read`` returns for a parameter the operations account does not have.
NOT_FOUND: Final = object()


class OperationsParameter:
    """Reads one parameter of the operations account with the assumed credentials."""

    def __init__(self, name: str, ssm_client: Callable[[], Any]) -> None:
        self.name = name
        self._ssm_client = ssm_client
        self._client: Any = None

    def read(self, invalid: Callable[[str], Exception]) -> Any:
        """The parameter's value as JSON, or ``NOT_FOUND`` when it does not exist.

        A value that is not JSON raises ``invalid(message)``.
        """
        if self._client is None:
            self._client = self._ssm_client()
        try:
            value = self._client.get_parameter(Name=self.name)["Parameter"]["Value"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return NOT_FOUND
            raise
        try:
            return json.loads(value)
        except ValueError as exc:
            raise invalid(f"{self.name}: not JSON ({exc})") from None

    def drop(self) -> None:
        """Forget the client (a restored SnapStart snapshot builds it afresh)."""
        self._client = None
