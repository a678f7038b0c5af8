"""Form pieces shared by the admin pages that send tests (channels and publications)."""

from __future__ import annotations

import re

from django import forms


class TestRecipientsField(forms.CharField):
    """Recipients typed as text, separated by commas, semicolons or spaces, as a list. Whether
    each may receive a test is the test-send service's decision, not the form's."""

    __test__ = False  # not a pytest test class

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 2000)
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        return [part for part in re.split(r"[\s,;]+", super().to_python(value)) if part]


class ChannelTestForm(forms.Form):
    """The recipients typed beside a channel's "Send test" button (a field of the change form)."""

    test_recipients = TestRecipientsField()
