"""The publication body is a rich editor (EasyMDE over CodeMirror): tests type into it as a
person does instead of filling the textarea it hides and keeps in sync."""

from __future__ import annotations


def fill_body(page, text: str) -> None:
    """Replace the body's text, like selecting everything in the editor and pasting."""
    page.locator(".EasyMDEContainer .CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)
