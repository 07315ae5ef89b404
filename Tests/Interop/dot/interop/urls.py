from django.http import JsonResponse
from django.urls import include, path
from oauth2_provider.models import AccessToken


def stats(request):
    """How many access tokens the server has issued, per client id."""
    counts = {}
    for token in AccessToken.objects.select_related("application"):
        key = token.application.client_id if token.application else "-"
        counts[key] = counts.get(key, 0) + 1
    return JsonResponse({"issued": counts})


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("interop/stats", stats),
]
