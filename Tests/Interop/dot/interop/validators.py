"""ID token claims for the browser login tests: what a real provider puts in for the
profile and email scopes, and a groups claim."""
from oauth2_provider.oauth2_validators import OAuth2Validator


class InteropValidator(OAuth2Validator):
    # DOT releases only claims a granted scope names: groups come with profile.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "profile"}

    def get_additional_claims(self, request):
        user = request.user
        return {
            "email": user.email,
            "name": user.get_full_name(),
            "preferred_username": user.username,
            "groups": ["staff", "interop"],
        }
