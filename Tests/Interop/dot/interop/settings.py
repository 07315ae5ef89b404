"""A minimal Django project serving django-oauth-toolkit on loopback for TokenGate's
interop tests. Test-only: fixed secret key, DEBUG off, SQLite at INTEROP_DB."""
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "interop-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "interop",
]
# Sessions, CSRF and authentication for the login page the browser tests use.
MIDDLEWARE = [
    # Counts and keeps what the token endpoint answers; can slow it (interop/witness.py).
    "interop.witness.witness",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(BASE_DIR, "templates")],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request", "django.contrib.auth.context_processors.auth"]},
    }
]
LOGIN_URL = "/accounts/login/"
ROOT_URLCONF = "interop.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("INTEROP_DB", os.path.join(BASE_DIR, "interop.sqlite3")),
        "OPTIONS": {"timeout": 20},
    }
}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# django-oauth-toolkit hashes client secrets with the first hasher; Django's default
# PBKDF2 iteration count costs about half a second of CPU per token request here.
PASSWORD_HASHERS = ["interop.hashers.FastPBKDF2PasswordHasher"]
def _signing_key():
    """The OpenID Connect signing key: made once and kept in .build-interop, so the many
    servers a test run starts do not each spend CPU on a new RSA key."""
    from jwcrypto import jwk

    path = os.path.join(BASE_DIR, "..", "..", "..", "..", ".build-interop", "oidc-signing-key.pem")
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        pem = jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None).decode()
        temporary = f"{path}.{os.getpid()}"
        with open(temporary, "w") as f:
            f.write(pem)
        os.replace(temporary, path)
        return pem


OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("INTEROP_TOKEN_LIFETIME", "2")),
    "SCOPES": {
        "invoices:read": "read invoices",
        "invoices:write": "write invoices",
        "contacts": "contacts",
        "legacy:use": "use the legacy app",
        "introspection": "introspect tokens",
        "openid": "OpenID Connect",
        "profile": "profile",
        "email": "email",
    },
    "DEFAULT_SCOPES": ["invoices:read"],
    "PKCE_REQUIRED": False,
    # OpenID Connect: discovery at /o/.well-known/openid-configuration and a JWKS for the
    # RSA key, made at start (INTEROP_ISSUER is the issuer identifier, set by the tests).
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": os.environ.get("INTEROP_ISSUER", ""),
    "OIDC_RSA_PRIVATE_KEY": _signing_key(),
    # RP-initiated logout without a confirmation page when the ID token hint is valid.
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OAUTH2_VALIDATOR_CLASS": "interop.validators.InteropValidator",
}
if os.environ.get("INTEROP_JWT_ACCESS_TOKENS") == "1":
    # RFC 9068 access tokens signed with the OpenID Connect key; refresh tokens stay opaque.
    OAUTH2_PROVIDER["ACCESS_TOKEN_GENERATOR"] = "interop.tokens.access_token"
    OAUTH2_PROVIDER["REFRESH_TOKEN_GENERATOR"] = "oauthlib.oauth2.rfc6749.tokens.random_token_generator"
LOGGING = {"version": 1, "disable_existing_loggers": True}
