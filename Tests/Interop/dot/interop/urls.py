from django.http import JsonResponse
from django.urls import include, path
from oauth2_provider.models import AccessToken, RefreshToken

from interop import portal, tokens, witness


def stats(request):
    """How many access tokens the server has issued, per client id, and every access and
    refresh token it issued (for the test suite's leak check)."""
    counts = {}
    tokens = []
    for token in AccessToken.objects.select_related("application"):
        key = token.application.client_id if token.application else "-"
        counts[key] = counts.get(key, 0) + 1
        tokens.append(token.token)
    tokens.extend(refresh.token for refresh in RefreshToken.objects.all())
    return JsonResponse({"issued": counts, "tokens": tokens})


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("interop/stats", stats),
    path("interop/jwt", tokens.mint),
    path("interop/rotate", tokens.rotate),
    path("interop/oidc", tokens.oidc),
    path("interop/portal", portal.portal),
    path("interop/witness", witness.report),
    path("accounts/", include("django.contrib.auth.urls")),
]
