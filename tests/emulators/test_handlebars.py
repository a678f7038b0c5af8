"""The Handlebars subset SES uses to render templates."""

from __future__ import annotations

import pytest

from tests.emulators.handlebars import render


@pytest.mark.parametrize(
    ("template", "data", "expected"),
    [
        (
            "{{name}}",
            {"name": "A & <B> \"c\" 'd' `e` ="},
            "A &amp; &lt;B&gt; &quot;c&quot; &#x27;d&#x27; &#x60;e&#x60; &#x3D;",
        ),
        ("{{{html}}}", {"html": "<b>&</b>"}, "<b>&</b>"),
        ("{{ spaced }}|{{{ spaced }}}", {"spaced": "<x>"}, "&lt;x&gt;|<x>"),
        ("[{{missing}}][{{{missing}}}][{{a.missing}}]", {"a": {}}, "[][][]"),
        ("{{user.address.city}}", {"user": {"address": {"city": "Oslo"}}}, "Oslo"),
        (
            "{{n}} {{f}} {{t}} {{none}} {{items}}",
            {"n": 3, "f": 2.0, "t": True, "none": None, "items": [1, "a"]},
            "3 2 true  1,a",
        ),
        ("{{#if vip}}VIP{{/if}}", {"vip": True}, "{{#if vip}}VIP{{/if}}"),
    ],
    ids=["escaped", "raw", "whitespace", "missing", "nested", "scalars", "helpers left alone"],
)  # fmt: skip
def test_render_substitutes_like_handlebars(template, data, expected):
    assert render(template, data) == expected
