"""``make demo``: scenario (``scenario``), isolation checks (``checks``), presentation."""
