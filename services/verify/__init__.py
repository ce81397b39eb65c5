"""The offline verifier's process side: sources (export directory, Kafka), worker pool, CLI handlers.

The checks themselves are in :mod:`contracts.verification` (pure); this
package feeds them from files or Kafka, runs the per-record work on all
cores, and prints reports.
"""
