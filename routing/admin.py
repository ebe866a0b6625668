"""routing: admin."""
