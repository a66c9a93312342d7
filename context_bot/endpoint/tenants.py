"""Who is asking: the tenant behind a `POST /token`, from a bearer JWT or an API key.

Two modes (`tokens.auth_required`):

- unauthenticated (the default, for local use): every caller is anonymous; tokens are
  handed out without ownership checks;
- authenticated: a caller presents either `Authorization: Bearer <JWT>` from the auth
  service (verified with the configured key, one algorithm, issuer and audience; `exp`
  and `sub` required; `sub` is the tenant id) or `X-API-Key: <key>` (one key per tenant,
  compared in constant time against every configured key). Anything else is a 401.

Pure of aiohttp and livekit: it takes header values, so tests call it directly. PyJWT is
the library `livekit-api` already signs LiveKit tokens with. Messages never echo a token
or a key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import jwt

from context_bot.config import TENANT_PATTERN, Settings
from context_bot.errors import ApiError, ConfigError

JWT_LEEWAY_S = 30
"""Clock skew tolerated between the auth service and us, on `exp`, `nbf` and `iat`."""
ANONYMOUS = None


@dataclass(frozen=True)
class Tenant:
    id: str
    via: str
    """`jwt` or `api_key`: logged, never the credential itself."""


class Authenticator:
    """Turns request headers into a tenant, `None` when authentication is off, or a 401."""

    def __init__(
        self,
        *,
        required: bool,
        jwt_key: str = "",
        jwt_algorithm: str = "HS256",
        jwt_issuer: str = "",
        jwt_audience: str = "",
        api_keys: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.required = required
        self._jwt_key = jwt_key
        self._algorithm = jwt_algorithm
        self._issuer = jwt_issuer
        self._audience = jwt_audience
        self._api_keys = tuple((tenant, key.encode()) for tenant, key in api_keys)
        if required:
            self._check()

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        return cls(
            required=settings.auth_required,
            jwt_key=settings.jwt_key,
            jwt_algorithm=settings.jwt_algorithm,
            jwt_issuer=settings.jwt_issuer,
            jwt_audience=settings.jwt_audience,
            api_keys=settings.api_keys,
        )

    def _check(self) -> None:
        """Fail at start, naming the settings, rather than refuse every caller later."""
        if not self._jwt_key and not self._api_keys:
            raise ConfigError(
                "tokens.auth_required (CONTEXT_BOT_AUTH_REQUIRED) is on but no credential is "
                "configured: set tokens.jwt_key (CONTEXT_BOT_JWT_KEY) or tokens.api_keys "
                "(CONTEXT_BOT_API_KEYS)"
            )
        if self._jwt_key and not (self._issuer and self._audience):
            raise ConfigError(
                "tokens.jwt_key (CONTEXT_BOT_JWT_KEY) needs tokens.jwt_issuer "
                "(CONTEXT_BOT_JWT_ISSUER) and tokens.jwt_audience (CONTEXT_BOT_JWT_AUDIENCE)"
            )
        if self._jwt_key and self._algorithm not in jwt.algorithms.get_default_algorithms():
            raise ConfigError(
                f"tokens.jwt_algorithm (CONTEXT_BOT_JWT_ALGORITHM) {self._algorithm} needs the "
                "`cryptography` package: install pyjwt[crypto] or use an HS algorithm"
            )

    def authenticate(self, authorization: str | None, api_key: str | None) -> Tenant | None:
        """The caller's tenant; `None` in unauthenticated mode; `ApiError(401)` otherwise."""
        if not self.required:
            return ANONYMOUS
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise _unauthorized("invalid_credentials", "Authorization must be `Bearer <JWT>`")
            return self._from_jwt(credential.strip())
        if api_key:
            return self._from_api_key(api_key)
        raise _unauthorized(
            "auth_required", "authentication required: send a bearer JWT or an X-API-Key header"
        )

    def _from_jwt(self, token: str) -> Tenant:
        if not self._jwt_key:
            raise _unauthorized("invalid_credentials", "bearer JWTs are not accepted here")
        try:
            claims = jwt.decode(
                token,
                self._jwt_key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=JWT_LEEWAY_S,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("invalid_credentials", "the bearer JWT has expired") from None
        except jwt.InvalidTokenError as exc:
            # The class name says what failed (signature, audience...) and carries no secret.
            raise _unauthorized(
                "invalid_credentials", f"the bearer JWT was refused ({exc.__class__.__name__})"
            ) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not TENANT_PATTERN.fullmatch(subject):
            raise _unauthorized(
                "invalid_credentials",
                "the bearer JWT's `sub` must be a tenant id of 1-128 of A-Z a-z 0-9 _ . : @ = + -",
            )
        return Tenant(subject, "jwt")

    def _from_api_key(self, presented: str) -> Tenant:
        candidate = presented.encode("utf-8", "replace")
        found: str | None = None
        # Every key is compared, matched or not, so timing tells nothing about which is close.
        for tenant, key in self._api_keys:
            if hmac.compare_digest(candidate, key) and found is None:
                found = tenant
        if found is None:
            raise _unauthorized("invalid_credentials", "the X-API-Key is not valid")
        return Tenant(found, "api_key")


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, {"WWW-Authenticate": 'Bearer realm="context-bot"'})
