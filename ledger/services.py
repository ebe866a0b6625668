"""ledger: services."""
