"""Infrastructure shared by every process: settings, connections, locks, topics, publishing, the local stack."""
