"""payments: selectors."""
