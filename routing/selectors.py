"""routing: selectors."""
