"""payments: services."""
