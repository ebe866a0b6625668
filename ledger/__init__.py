"""ledger: the double-entry book of every money movement (see docs/ledger.md).

Other apps call `ledger.services` (writes) and `ledger.selectors` (reads) only.
"""
