"""The browser login client and user, set up by the tests for the gateway's port."""
import json

from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import Application

PORTAL = ("legacy-portal", "interop-portal-secret")
USER = ("alice", "interop-alice-password")


@csrf_exempt
def portal(request):
    """POST {"redirect_uri": …, "post_logout_redirect_uri": …}: the confidential
    authorization-code client for TokenGate's login profile, and the user alice."""
    spec = json.loads(request.body)
    user, _ = get_user_model().objects.get_or_create(username=USER[0])
    user.set_password(USER[1])
    user.email = "alice@interop.test"
    user.first_name = "Alice"
    user.last_name = "Interop"
    user.save()
    Application.objects.filter(client_id=PORTAL[0]).delete()
    Application.objects.create(
        name=PORTAL[0], client_id=PORTAL[0], client_secret=PORTAL[1], client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE, redirect_uris=spec["redirect_uri"],
        post_logout_redirect_uris=spec["post_logout_redirect_uri"], skip_authorization=True, algorithm=Application.RS256_ALGORITHM,
    )
    return JsonResponse({"client_id": PORTAL[0], "user_pk": user.pk})
