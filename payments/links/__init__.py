"""Payment links: a shareable request for one payment, its hosted page and its QR code.

`services` (create, deactivate, pay from the hosted page), `selectors` (reads, scoped to the
merchant and mode that asks, or public by the link's unguessable id) and `methods` (which
payment methods a link may offer in a currency).
"""
