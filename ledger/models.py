"""ledger: models."""
