"""disputes URLs."""

urlpatterns: list = []
