"""Builders for LINE WORKS message contents (lineworks-api.md §2.3, §2.4), within the limits.

Only documented keys are produced: LINE WORKS warns that undocumented properties may be
rejected, and the fake server rejects them.
"""

from __future__ import annotations

from typing import Any

TEXT_MAX = 2000
CONTENT_TEXT_MAX = 1000
LINK_MAX = 1000
LABEL_MAX = 20
POSTBACK_MAX = 300
BUTTONS_MAX = 10


def clip(value: str, limit: int) -> str:
    value = value or ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": clip(body, TEXT_MAX)}


def message_action(label: str, *, text: str | None = None, postback: str = "") -> dict[str, Any]:
    """A button that sends ``text`` as the user's message, with ``postback`` attached
    (button templates do not allow postback actions; §2.4)."""
    action: dict[str, Any] = {"type": "message", "label": clip(label, LABEL_MAX)}
    action["text"] = clip(text if text is not None else label, 300)
    if postback:
        if len(postback) > POSTBACK_MAX:
            raise ValueError("postback longer than 300 characters")
        action["postback"] = postback
    return action


def uri_action(label: str, uri: str) -> dict[str, Any]:
    return {"type": "uri", "label": clip(label, LABEL_MAX), "uri": uri[:LINK_MAX]}


def button_template(content_text: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    if not actions or len(actions) > BUTTONS_MAX:
        raise ValueError("a button template needs 1 to 10 actions")
    return {
        "type": "button_template",
        "contentText": clip(content_text, CONTENT_TEXT_MAX),
        "actions": actions,
    }


def link(content_text: str, link_text: str, url: str) -> dict[str, Any]:
    return {
        "type": "link",
        "contentText": clip(content_text, LINK_MAX),
        "linkText": clip(link_text, LINK_MAX),
        "link": url[:LINK_MAX],
    }


def image(file_id: str) -> dict[str, Any]:
    return {"type": "image", "fileId": file_id}


def upload_placeholder(storage_name: str, file_name: str) -> dict[str, Any]:
    """An image the outbox uploads (two-step attachment upload) right before sending; the
    delivery replaces this with ``image(fileId)``. Never sent as is."""
    return {"type": "image", "upload": {"storage_name": storage_name, "file_name": file_name}}
