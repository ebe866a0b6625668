"""payments URLs."""

urlpatterns: list = []
