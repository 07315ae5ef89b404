"""RFC 9068 JWT access tokens signed with the server's OpenID Connect key, and the test
views that mint broken ones and rotate the key. Test-only."""
import base64
import hashlib
import hmac
import json
import time
import uuid

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from jwcrypto import jwk, jws
from oauth2_provider.settings import oauth2_settings


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _current_key():
    return jwk.JWK.from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY.encode())


def sign(header, claims, key=None):
    """Compact JWS of `claims` under `header`, RS256 with `key` (default the active key)."""
    key = key or _current_key()
    header = dict(header)
    header.setdefault("alg", "RS256")
    header.setdefault("kid", key.thumbprint())
    token = jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
    token.add_signature(key, alg=header["alg"], protected=json.dumps(header, separators=(",", ":")))
    return token.serialize(compact=True)


def access_token(request, refresh_token=False):
    """ACCESS_TOKEN_GENERATOR: an RFC 9068 access token for the token request."""
    now = int(time.time())
    client = request.client
    user = getattr(request, "user", None)
    claims = {
        "iss": oauth2_settings.OIDC_ISS_ENDPOINT,
        "sub": str(user.username) if user is not None and getattr(user, "pk", None) else client.client_id,
        "aud": AUDIENCE,
        "client_id": client.client_id,
        "scope": " ".join(request.scopes or []),
        "iat": now,
        "exp": now + oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return sign({"typ": "at+jwt"}, claims)


AUDIENCE = "https://orders.interop.test"


@csrf_exempt
def mint(request):
    """POST {"header": {...}, "claims": {...}, "signing": "key" | "none" | "hs256-public"}:
    a token signed as asked with the active key (for tests of what a real server won't send)."""
    spec = json.loads(request.body)
    header, claims, signing = spec.get("header", {}), spec["claims"], spec.get("signing", "key")
    if signing == "key":
        return JsonResponse({"token": sign(header, claims)})
    key = _current_key()
    header = dict(header)
    header.setdefault("kid", key.thumbprint())
    if signing == "none":
        header["alg"] = "none"
        body = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        return JsonResponse({"token": body + "."})
    # HS256 keyed with the public key in PEM, the classic algorithm confusion.
    header["alg"] = "HS256"
    public_pem = key.export_to_pem(private_key=False)
    body = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = hmac.new(public_pem, body.encode(), hashlib.sha256).digest()
    return JsonResponse({"token": body + "." + _b64(signature)})


@csrf_exempt
def rotate(request):
    """POST: a new active key; the old one stays published as inactive."""
    old = oauth2_settings.OIDC_RSA_PRIVATE_KEY
    new = jwk.JWK.generate(kty="RSA", size=2048)
    oauth2_settings.OIDC_RSA_PRIVATE_KEY = new.export_to_pem(private_key=True, password=None).decode()
    oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE = [old, *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE]
    return JsonResponse({"kid": new.thumbprint()})


def oidc(request):
    """The issuer and the active key's id."""
    return JsonResponse({"issuer": oauth2_settings.OIDC_ISS_ENDPOINT, "kid": _current_key().thumbprint()})
