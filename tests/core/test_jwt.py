import datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

TOPICS = "/api/v1/publishing/topics"


def _keypair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


@pytest.fixture
def platform_key(settings):
    key, public = _keypair()
    settings.JWT_PUBLIC_KEY = public
    settings.JWT_ISSUER = "https://auth.example.com"
    settings.JWT_AUDIENCE = "bulletin"
    return key


def _token(key, **overrides):
    now = datetime.datetime.now(datetime.UTC)
    claims = {
        "sub": "svc-reporting",
        "iss": "https://auth.example.com",
        "aud": "bulletin",
        "exp": now + datetime.timedelta(minutes=5),
        "bulletin_role": "editor",
    } | overrides
    return jwt.encode(claims, key, algorithm="RS256")


def _client(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_platform_jwt_authenticates_with_its_role(platform_key):
    client = _client(_token(platform_key))
    assert client.get(TOPICS).status_code == 200
    assert client.post(TOPICS, {"slug": "from-jwt", "name": "From JWT"}).status_code == 201


def test_a_jwt_role_too_low_is_refused(platform_key):
    client = _client(_token(platform_key, bulletin_role="viewer"))
    assert client.post(TOPICS, {"slug": "x", "name": "X"}).status_code == 403


@pytest.mark.parametrize(
    "overrides",
    [{"iss": "https://evil.example.com"}, {"aud": "another-service"}, {"exp": 1}],
    ids=["wrong-issuer", "wrong-audience", "expired"],
)
def test_a_jwt_with_wrong_claims_is_refused(platform_key, overrides):
    response = _client(_token(platform_key, **overrides)).get(TOPICS)
    assert response.status_code == 401
    assert response.json()["message"].startswith("Invalid token")


def test_a_jwt_signed_by_another_key_is_refused(platform_key):
    other_key, _ = _keypair()
    assert _client(_token(other_key)).get(TOPICS).status_code == 401


def test_jwts_are_ignored_when_no_key_is_configured(settings):
    settings.JWT_PUBLIC_KEY = ""
    key, _ = _keypair()
    assert _client(_token(key)).get(TOPICS).status_code == 401
