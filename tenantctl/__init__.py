"""tenantctl: the operations CLI for the tenant registry and the fleet.

``cli/`` holds the commands; beside it the registry file edits, the fleet deploy
and the CDK runner, the usage reader and its chart, Cost Explorer and ``doctor``.
The embedded cloud is not here: ``tenantctl local`` loads ``embedded_aws`` (the
optional ``embedded`` extra) only when it runs.
"""
