"""``certctl serve api``: the HTTP JSON status API over the read models, with verifiable answers.

``app.build_app`` is the application factory; the composition root
(``certlife.services.bootstrap.open_api``) hands it a read-only PostgreSQL pool,
the schema, the tiles directory and the trust file. Routes: ``routes``;
the OpenAPI document: ``openapi`` (checked in as contracts/openapi.json).
"""
