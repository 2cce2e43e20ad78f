"""`provenant serve`: the web face of the studio, on the same library as the CLI.

`/` verifies dropped images for anyone; `/audit` is the auditors' dashboard behind a login;
`/api/...` is the JSON API (OpenAPI at `/docs`).  `app.create_app(settings)` builds the app.
Nothing here re-implements verification, screening, generation or audit queries: routes
call `provenance.verify.verifier`, `policyset`, `batch`/`studio` and `provenance.audit`.

This package's `__init__` imports nothing heavy: `audit report` uses its templates
(`templating`) without FastAPI being imported.

May import: kernel, credentials, ledger, verify, pipeline, audit, softbinding.
"""
