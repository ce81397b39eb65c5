"""Internals of the fixture generator (``services.fixtures``): data, plan, signing, keys."""
