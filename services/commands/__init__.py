"""The command service: commands in, outcomes and events out."""
