"""fraud: real-time risk assessment; see docs/fraud.md. Public API: services, selectors, hooks."""
