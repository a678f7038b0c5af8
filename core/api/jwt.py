"""Accept RS256 JWTs issued by the platform's auth service (SPEC §5), when configured.

The token must be signed by JWT_PUBLIC_KEY, carry our audience (JWT_AUDIENCE) and, when
JWT_ISSUER is set, that issuer. `sub` names the user (created on first sight, no password);
the role comes from the JWT_ROLE_CLAIM claim and applies to this request only.
"""

from __future__ import annotations

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.roles import Role


class PlatformJWTAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1") != self.keyword or not settings.JWT_PUBLIC_KEY:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer header.")
        claims = self._decode(header[1].decode("latin-1"))
        user = self._user_for(claims)
        return user, claims

    def authenticate_header(self, request) -> str:
        return self.keyword if settings.JWT_PUBLIC_KEY else ""

    def _decode(self, token: str) -> dict:
        options = {"require": ["exp", "sub", "aud"] + (["iss"] if settings.JWT_ISSUER else [])}
        try:
            return jwt.decode(
                token,
                settings.JWT_PUBLIC_KEY,
                algorithms=["RS256"],
                audience=settings.JWT_AUDIENCE,
                issuer=settings.JWT_ISSUER or None,
                options=options,
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise exceptions.AuthenticationFailed(f"Invalid token: {exc}") from exc

    def _user_for(self, claims: dict):
        username = f"jwt:{claims['sub']}"[:150]
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": str(claims.get("email", ""))[:254], "password": make_password(None)}
        )
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive.")
        user._bulletin_role = Role.from_name(str(claims.get(settings.JWT_ROLE_CLAIM, "")))
        return user


class PlatformJWTScheme(OpenApiAuthenticationExtension):
    """Documents the bearer scheme in the OpenAPI schema."""

    target_class = "core.api.jwt.PlatformJWTAuthentication"
    name = "platformJWT"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS256)"}
