"""The PSP simulator: a standalone HTTP server that plays several named payment providers.

Run it with ``python -m routing.simulator`` (see ``docs/simulator.md``). It is deliberately free
of Django so that it starts in a fraction of a second, can run as its own process in the
Procfile and in tests, and behaves like a remote provider: it answers over HTTP, can be slow,
can fail, and keeps its own records that tests can inspect to prove that nothing was charged
twice.

Modules:
    cards       test card table, Luhn check, brand detection
    fees        fee schedules in integer minor units
    config      per-provider runtime knobs (fees, latency, approval rates, failures)
    records     authorization / refund / dispute records and their public JSON
    provider    one provider's state and operations, guarded by a lock
    settlement  settlement-report CSV lines and files
    webhooks    signed (Standard Webhooks) delivery with retries in a background thread
    server      the HTTP front: routing, JSON, control API and the 3-D Secure page
"""
