import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.api.throttling import UserWindowThrottle
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class ThreeAMinute(UserWindowThrottle):
    rate = "3/minute"


def _request(user):
    request = Request(APIRequestFactory().get("/api/v1/publishing/topics"))
    request.user = user
    return request


def test_a_user_over_the_rate_is_refused_until_the_window_ends():
    user = UserFactory()
    throttle = ThreeAMinute()
    allowed = [throttle.allow_request(_request(user), None) for _ in range(4)]
    assert allowed == [True, True, True, False]
    assert 0 < throttle.wait() <= 60


def test_users_are_counted_apart_and_anonymous_ones_by_address():
    first, second = UserFactory(), UserFactory()
    throttle = ThreeAMinute()
    for _ in range(3):
        throttle.allow_request(_request(first), None)
    assert throttle.allow_request(_request(second), None)
    assert throttle.allow_request(_request(AnonymousUser()), None)
