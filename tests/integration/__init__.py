"""Tests that start moto or the embedded cloud (integration tests), grouped by what they test."""
