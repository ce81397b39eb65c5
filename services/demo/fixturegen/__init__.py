"""Deterministic fixture generation (test-only keys)."""
