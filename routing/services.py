"""routing: services."""
