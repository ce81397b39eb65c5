"""A C2SP tlog-witness server (``certctl serve witness``) that a partner body runs.

``keys``: the witness's encrypted Ed25519 cosigning key and name; ``store``: its
durable state in PostgreSQL (the logs it witnesses and the latest checkpoint it
cosigned for each, advanced by compare-and-swap); ``checks``: the spec's checks
of one add-checkpoint request; ``app``: the HTTP interface; ``server``: the
composition root that runs it under uvicorn.
"""
