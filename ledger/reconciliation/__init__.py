"""ledger.reconciliation: provider settlement reports matched against the ledger and the bank.

Models (`models.py`), the set-based matcher (`matching.py`), the services that store, match,
settle and resolve (`services.py`), reads for the console and the command (`selectors.py`) and
the finance console (`admin.py`). Fetching reports is a network call to a provider and lives
above the ledger, in payments (`payments/reconciliation.py`): the ledger imports neither
payments nor routing. docs/reconciliation.md tells the whole story.
"""
