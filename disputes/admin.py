"""disputes: admin."""
