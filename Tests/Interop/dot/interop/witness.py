"""Test-only: what django-oauth-toolkit's token endpoint was asked and what it issued,
and a delay the tests can put in front of it (a slow provider).

The fleet tests count refresh and client-credentials grants here rather than in the
database: a rotated refresh token deletes its access token, so rows undercount. Every
access, refresh and ID token the endpoint answered is kept, so a test can check that a
database dump holds none of them."""
import base64
import json
import threading
import time
from urllib.parse import parse_qs, unquote_plus

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

_lock = threading.Lock()
_requests = {}
_issued = []
_delay = [0.0]


def _client(request, form):
    """The client id of a token request: HTTP Basic (form-encoded, RFC 6749 §2.3.1) or the body."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            return unquote_plus(base64.b64decode(header[6:]).decode().split(":", 1)[0])
        except (ValueError, UnicodeDecodeError):
            return "-"
    return form.get("client_id", ["-"])[0]


def witness(get_response):
    """Middleware: counts token requests by "client_id grant_type", sleeps the configured
    delay before answering one, and keeps every token it answered with."""

    def middleware(request):
        if request.path != "/o/token/" or request.method != "POST":
            return get_response(request)
        form = parse_qs(request.body.decode("utf-8", "replace"))
        key = f"{_client(request, form)} {form.get('grant_type', ['-'])[0]}"
        with _lock:
            _requests[key] = _requests.get(key, 0) + 1
            delay = _delay[0]
        if delay > 0:
            time.sleep(delay)
        response = get_response(request)
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = {}
        with _lock:
            _issued.extend(answer[name] for name in ("access_token", "refresh_token", "id_token") if isinstance(answer.get(name), str))
        return response

    return middleware


@csrf_exempt
def report(request):
    """GET: {"requests": {"CLIENT GRANT": n}, "issued": [tokens]}.
    POST {"token_delay_seconds": s}: every later token request waits s seconds first."""
    if request.method == "POST":
        seconds = float(json.loads(request.body).get("token_delay_seconds", 0))
        with _lock:
            _delay[0] = max(0.0, min(seconds, 30.0))
    with _lock:
        return JsonResponse({"requests": dict(_requests), "issued": list(_issued), "token_delay_seconds": _delay[0]})
