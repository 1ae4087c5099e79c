"""Tests of the pure contracts (no AWS, no CDK): registry, settings, environment, pricing."""
