"""disputes: services."""
