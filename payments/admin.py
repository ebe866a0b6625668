"""payments: admin."""
