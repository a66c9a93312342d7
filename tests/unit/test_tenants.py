"""Who is asking: bearer JWTs and API keys in authenticated mode, nobody otherwise."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from context_bot.config import load_settings
from context_bot.endpoint.tenants import Authenticator, Tenant
from context_bot.errors import ApiError, ConfigError

KEY = "an-hmac-key-of-at-least-thirty-two-bytes!"
ACME_KEY = "acme-key-0123456789abcdef"
GLOBEX_KEY = "globex-key-0123456789abcdef"


def authenticator(**overrides: Any) -> Authenticator:
    options: dict[str, Any] = {
        "required": True,
        "jwt_key": KEY,
        "jwt_issuer": "https://auth.example",
        "jwt_audience": "context-bot",
        "api_keys": (("acme", ACME_KEY), ("globex", GLOBEX_KEY)),
    }
    return Authenticator(**(options | overrides))


def token(**claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "initech", "iss": "https://auth.example", "aud": "context-bot", "exp": now + 60}
    return jwt.encode(body | claims, KEY, algorithm="HS256")


def refused(auth: Authenticator, authorization: str | None, api_key: str | None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        auth.authenticate(authorization, api_key)
    assert caught.value.status == 401
    return caught.value


def test_unauthenticated_mode_lets_everyone_in_as_nobody() -> None:
    assert Authenticator(required=False).authenticate(None, None) is None
    assert Authenticator(required=False).authenticate("Bearer junk", "junk") is None


def test_a_bearer_jwt_names_the_tenant_by_its_subject() -> None:
    assert authenticator().authenticate(f"Bearer {token()}", None) == Tenant("initech", "jwt")
    assert authenticator().authenticate(f"bearer {token()}", None) == Tenant("initech", "jwt")


def test_an_api_key_names_its_tenant() -> None:
    assert authenticator().authenticate(None, GLOBEX_KEY) == Tenant("globex", "api_key")


def test_a_bearer_jwt_takes_precedence_and_is_judged_alone() -> None:
    assert refused(authenticator(), "Bearer junk", ACME_KEY).code == "invalid_credentials"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        # Times are offsets from when the test runs, not from collection: a long suite
        # runs this file minutes after it was collected.
        ({"exp": -120}, "expired"),
        ({"aud": "other"}, "InvalidAudienceError"),
        ({"iss": "https://other"}, "InvalidIssuerError"),
        ({"sub": ""}, "sub"),
        ({"nbf": 600}, "ImmatureSignatureError"),
    ],
)
def test_a_jwt_with_wrong_claims_is_refused_saying_why(claims: dict[str, Any], reason: str) -> None:
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "nbf") else v for k, v in claims.items()}
    error = refused(authenticator(), f"Bearer {token(**claims)}", None)
    assert error.code == "invalid_credentials"
    assert reason in error.message


def test_a_jwt_without_expiry_or_signed_otherwise_is_refused() -> None:
    body = {"sub": "initech", "iss": "https://auth.example", "aud": "context-bot"}
    assert (
        "MissingRequiredClaimError"
        in refused(
            authenticator(), f"Bearer {jwt.encode(body, KEY, algorithm='HS256')}", None
        ).message
    )
    forged = jwt.encode({**body, "exp": time.time() + 60}, "x" * 40, algorithm="HS256")
    assert "InvalidSignatureError" in refused(authenticator(), f"Bearer {forged}", None).message
    unsigned = jwt.encode({**body, "exp": time.time() + 60}, None, algorithm="none")
    assert refused(authenticator(), f"Bearer {unsigned}", None).code == "invalid_credentials"


def test_a_wrong_key_or_nothing_is_401_and_the_key_is_never_echoed() -> None:
    error = refused(authenticator(), None, ACME_KEY[:-1])
    assert ACME_KEY[:-1] not in error.message
    assert refused(authenticator(), None, None).code == "auth_required"
    assert refused(authenticator(api_keys=()), None, ACME_KEY).code == "invalid_credentials"
    assert (
        refused(authenticator(jwt_key=""), f"Bearer {token()}", None).code == "invalid_credentials"
    )


def test_authenticated_mode_needs_a_credential_and_jwt_needs_issuer_and_audience() -> None:
    with pytest.raises(ConfigError, match=r"tokens\.jwt_key"):
        Authenticator(required=True)
    with pytest.raises(ConfigError, match="CONTEXT_BOT_JWT_AUDIENCE"):
        Authenticator(required=True, jwt_key=KEY, jwt_issuer="i")


def test_api_keys_come_from_the_environment_and_their_errors_hide_them() -> None:
    settings = load_settings(
        None,
        {
            "CONTEXT_BOT_AUTH_REQUIRED": "true",
            "CONTEXT_BOT_API_KEYS": f"acme={ACME_KEY}, globex={GLOBEX_KEY}",
        },
    )
    assert settings.auth_required
    assert settings.api_keys == (("acme", ACME_KEY), ("globex", GLOBEX_KEY))
    assert ACME_KEY not in repr(settings)
    for bad in (
        "acme=short",
        f"acme={ACME_KEY},globex={ACME_KEY}",
        f"has space={ACME_KEY}",
        "novalue",
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings(None, {"CONTEXT_BOT_API_KEYS": bad})
        assert "tokens.api_keys" in str(caught.value)
        assert ACME_KEY not in str(caught.value)
        assert "short" not in str(caught.value)


def test_yaml_takes_api_keys_as_a_mapping_and_origins_as_a_list(tmp_path: Any) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"tokens:\n  api_keys:\n    acme: {ACME_KEY}\n"
        "http:\n  cors_origins: [https://app.example/, '*']\n  rate_limit: 0\n"
        "rooms:\n  onboarding_pattern: 'walk-in-.*'\n"
    )
    settings = load_settings(path, {})
    assert settings.api_keys == (("acme", ACME_KEY),)
    assert settings.cors_origins == ("https://app.example", "*")
    assert settings.rate_limit_per_min == 0
    assert settings.onboarding_pattern == "walk-in-.*"
    with pytest.raises(ConfigError, match=r"rooms\.onboarding_pattern"):
        load_settings(None, {"CONTEXT_BOT_ONBOARDING_ROOMS": "walk-in-("})
    with pytest.raises(ConfigError, match=r"http\.cors_origins"):
        load_settings(None, {"CONTEXT_BOT_CORS_ORIGINS": "app.example"})
