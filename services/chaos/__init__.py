"""The chaos suite (``./dev chaos``): steady mixed load on a private stack while faults are injected.

:mod:`.main` runs it; :mod:`.privstack` starts the private Kafka and PostgreSQL,
:mod:`.load` plays and observes the traffic, :mod:`.faults` injects the faults,
:mod:`.checks` checks the invariants afterwards and :mod:`.report` writes them down.
"""
