"""Test machinery shared by unit and integration tests: fixtures and kits, never product."""
