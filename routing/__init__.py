"""routing: provider adapters, routing strategies, health (circuit breakers), cascade and
retries, and incoming provider webhooks. See docs/routing.md."""
