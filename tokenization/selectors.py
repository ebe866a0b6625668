"""tokenization: selectors."""
