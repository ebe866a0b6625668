"""The shared kernel: what every app uses and no app owns.

The API's error language and base serializers (`core.errors`, `core.api`), pagination and
throttling, prefixed ids, the row-statement helpers and the PostgreSQL backend, logging, metrics
and the health endpoints. core imports no app of ours; every app may import it
(docs/architecture.md).
"""
