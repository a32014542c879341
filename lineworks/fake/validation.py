"""Message content validation of the fake LINE WORKS server (lineworks-api.md §2.3, §2.4).

Strict where the documentation is ([DOC] limits, required keys, no undocumented keys: the
real API warns that they may be rejected), lenient where it is inferred.
"""

from __future__ import annotations

from typing import Any

CONTENT_KEYS: dict[str, set[str]] = {
    "text": {"type", "text", "i18nTexts", "quickReply"},
    "sticker": {"type", "packageId", "stickerId", "quickReply"},
    "image": {"type", "previewImageUrl", "originalContentUrl", "fileId", "quickReply"},
    "file": {"type", "originalContentUrl", "fileId", "quickReply"},
    "audio": {"type", "originalContentUrl", "fileId", "quickReply"},
    "video": {"type", "previewImageUrl", "originalContentUrl", "fileId", "quickReply"},
    "location": {"type", "title", "address", "latitude", "longitude", "quickReply"},
    "link": {
        "type",
        "contentText",
        "linkText",
        "link",
        "i18nContentTexts",
        "i18nLinkTexts",
        "quickReply",
    },
    "button_template": {"type", "contentText", "i18nContentTexts", "actions", "quickReply"},
    "list_template": {"type", "coverData", "elements", "actions", "quickReply"},
    "carousel": {"type", "imageAspectRatio", "imageSize", "columns", "quickReply"},
    "image_carousel": {"type", "columns", "quickReply"},
    "flex": {"type", "altText", "contents", "i18nAltTexts", "quickReply"},
}

ACTION_KEYS: dict[str, set[str]] = {
    "postback": {"type", "label", "data", "displayText", "i18nLabels", "i18nDisplayTexts"},
    "message": {"type", "label", "text", "postback", "i18nLabels", "i18nTexts"},
    "uri": {"type", "label", "uri", "i18nLabels"},
    "camera": {"type", "label", "i18nLabels"},
    "cameraRoll": {"type", "label", "i18nLabels"},
    "location": {"type", "label", "i18nLabels"},
    "copy": {"type", "label", "copyText", "i18nLabels"},
}
LANGUAGES = {"ko_KR", "ja_JP", "zh_CN", "zh_TW", "en_US"}


class Invalid(Exception):
    """400 INVALID_PARAMETER with a description naming the property."""


def _str(value: Any, name: str, limit: int | None = None, *, required: bool = True) -> None:
    if value is None:
        if required:
            raise Invalid(f"{name} is required")
        return
    if not isinstance(value, str) or (required and value == ""):
        raise Invalid(f"{name} must be a non-empty string")
    if limit is not None and len(value) > limit:
        raise Invalid(f"{name} exceeds {limit} characters")


def _keys(obj: Any, allowed: set[str], name: str) -> None:
    if not isinstance(obj, dict):
        raise Invalid(f"{name} must be an object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise Invalid(f"{name} has undefined properties: {', '.join(unknown)}")


def _i18n(items: Any, name: str, text_key: str, limit: int) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        raise Invalid(f"{name} must be an array")
    for i, item in enumerate(items):
        _keys(item, {"language", text_key}, f"{name}[{i}]")
        if item.get("language") not in LANGUAGES:
            raise Invalid(f"{name}[{i}].language is invalid")
        _str(item.get(text_key), f"{name}[{i}].{text_key}", limit)


def validate_action(action: Any, name: str, *, allowed: set[str] | None = None) -> None:
    if not isinstance(action, dict):
        raise Invalid(f"{name} must be an object")
    kind = action.get("type")
    if kind not in ACTION_KEYS:
        raise Invalid(f"{name}.type is invalid")
    if allowed is not None and kind not in allowed:
        raise Invalid(f"{name}.type {kind} is not allowed here")
    _keys(action, ACTION_KEYS[kind], name)
    _str(action.get("label"), f"{name}.label", 20, required=kind != "postback")
    if kind == "postback":
        _str(action.get("data"), f"{name}.data", 300)
        _str(action.get("displayText"), f"{name}.displayText", 300, required=False)
    elif kind == "message":
        _str(action.get("text"), f"{name}.text", 300, required=False)
        _str(action.get("postback"), f"{name}.postback", 300, required=False)
        if action.get("text") is None and action.get("label") is None:
            raise Invalid(f"{name} needs a label or text")
    elif kind == "uri":
        _str(action.get("uri"), f"{name}.uri", 1000)
    elif kind == "copy":
        _str(action.get("copyText"), f"{name}.copyText", 1000)


def _file_source(content: dict[str, Any], name: str, files: set[str] | None) -> None:
    file_id = content.get("fileId")
    url = content.get("originalContentUrl")
    if file_id is None and url is None:
        raise Invalid(f"{name}.fileId or {name}.originalContentUrl is required")
    if file_id is not None:
        _str(file_id, f"{name}.fileId", 300)
        if files is not None and file_id not in files:
            raise Invalid(f"{name}.fileId content is invalid")
    if url is not None:
        _str(url, f"{name}.originalContentUrl", 1000)
        if not url.startswith("https://"):
            raise Invalid(f"{name}.originalContentUrl must be HTTPS")


def validate_content(content: Any, *, files: set[str] | None = None) -> None:
    """Raise Invalid when ``content`` is not a message LINE WORKS documents."""
    if not isinstance(content, dict):
        raise Invalid("content must be an object")
    kind = content.get("type")
    if kind not in CONTENT_KEYS:
        raise Invalid("content.type is invalid")
    _keys(content, CONTENT_KEYS[kind], "content")
    if kind == "text":
        _str(content.get("text"), "content.text", 2000)
        _i18n(content.get("i18nTexts"), "content.i18nTexts", "text", 2000)
    elif kind == "sticker":
        _str(content.get("packageId"), "content.packageId")
        _str(content.get("stickerId"), "content.stickerId")
    elif kind in ("image", "file", "audio", "video"):
        _file_source(content, "content", files)
    elif kind == "location":
        _str(content.get("title"), "content.title", 100)
        _str(content.get("address"), "content.address", 100)
        for key in ("latitude", "longitude"):
            if not isinstance(content.get(key), int | float) or isinstance(content.get(key), bool):
                raise Invalid(f"content.{key} must be a number")
    elif kind == "link":
        _str(content.get("contentText"), "content.contentText", 1000)
        _str(content.get("linkText"), "content.linkText", 1000)
        _str(content.get("link"), "content.link", 1000)
        _i18n(content.get("i18nContentTexts"), "content.i18nContentTexts", "contentText", 1000)
        _i18n(content.get("i18nLinkTexts"), "content.i18nLinkTexts", "linkText", 1000)
    elif kind == "button_template":
        _str(content.get("contentText"), "content.contentText", 1000)
        _i18n(content.get("i18nContentTexts"), "content.i18nContentTexts", "contentText", 1000)
        actions = content.get("actions")
        if not isinstance(actions, list) or not 1 <= len(actions) <= 10:
            raise Invalid("content.actions must hold 1 to 10 actions")
        for i, action in enumerate(actions):
            # Button templates do not allow postback actions (§2.4).
            validate_action(action, f"content.actions[{i}]", allowed={"message", "uri", "copy"})
    elif kind == "list_template":
        elements = content.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 4:
            raise Invalid("content.elements must hold 1 to 4 elements")
        for i, element in enumerate(elements):
            if not isinstance(element, dict):
                raise Invalid(f"content.elements[{i}] must be an object")
            _str(element.get("title"), f"content.elements[{i}].title", 1000)
        rows = content.get("actions") or []
        if not isinstance(rows, list) or len(rows) > 2:
            raise Invalid("content.actions must hold at most 2 rows")
        for r, row in enumerate(rows):
            if not isinstance(row, list) or len(row) > 2:
                raise Invalid(f"content.actions[{r}] must hold at most 2 actions")
            for c, action in enumerate(row):
                validate_action(
                    action, f"content.actions[{r}][{c}]", allowed={"message", "uri", "copy"}
                )
    elif kind in ("carousel", "image_carousel"):
        columns = content.get("columns")
        if not isinstance(columns, list) or not 1 <= len(columns) <= 10:
            raise Invalid("content.columns must hold 1 to 10 columns")
    elif kind == "flex":
        _str(content.get("altText"), "content.altText", 400)
        if not isinstance(content.get("contents"), dict):
            raise Invalid("content.contents must be a container object")
    quick = content.get("quickReply")
    if quick is not None:
        _keys(quick, {"items"}, "content.quickReply")
        items = quick.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= 13:
            raise Invalid("content.quickReply.items must hold 1 to 13 items")
        for i, item in enumerate(items):
            _keys(
                item,
                {"action", "imageUrl", "imageResourceId", "i18nImageUrl", "i18nImageResourceIds"},
                f"content.quickReply.items[{i}]",
            )
            validate_action(item.get("action"), f"content.quickReply.items[{i}].action")
