"""ledger: admin."""
