"""The limit enforcer: read the plans and the meter, decide (``contracts.limits``), apply."""
