"""The relay: event store notification log -> signed records -> Kafka, exactly once.

Each batch of stored certificate events becomes records (signed, appended to
the Merkle tree) published in one Kafka transaction together with domain
events, any checkpoint and the relay's own state message. The state message is
the authority on where the committed log ends; PostgreSQL keeps a cache of it
and each certificate's chain head, written after the Kafka commit and caught
up from the log topic on restart.
"""
