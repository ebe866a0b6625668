"""fraud URLs."""

urlpatterns: list = []
