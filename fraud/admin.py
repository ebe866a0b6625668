"""fraud: admin."""
