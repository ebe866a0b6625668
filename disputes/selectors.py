"""disputes: selectors."""
