"""tokenization URLs."""

urlpatterns: list = []
