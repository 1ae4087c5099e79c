"""The examples under examples/, run as their users run them, against the embedded cloud."""
