"""Django's PostgreSQL backend, loading timestamptz with psycopg's C loader (see base.py)."""
