"""ledger URLs."""

urlpatterns: list = []
