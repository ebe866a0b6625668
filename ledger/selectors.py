"""ledger: selectors."""
