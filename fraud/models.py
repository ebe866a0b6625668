"""fraud: models."""
