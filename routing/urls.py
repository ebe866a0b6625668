"""routing URLs."""

urlpatterns: list = []
