"""JSON from outside (API bodies, LINE WORKS callbacks) with a bound on nesting.

``json.loads`` raises RecursionError, not ValueError, on a document nested a few thousand
levels deep, and a document just under the interpreter's limit can still exhaust it later in
code that walks it recursively. ``loads`` turns both into ``TooDeep`` (a ValueError), so every
caller's ordinary "malformed JSON" handling answers a 4xx instead of a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

# No legitimate body of this portal (reports, notices, LINE WORKS events) nests deeper than
# a handful of levels.
MAX_DEPTH = 64


# json.loads pairs escaped surrogates into one code point; what is left is a lone one.
_SURROGATE = re.compile("[\ud800-\udfff]")


class TooDeep(ValueError):
    """The document nests deeper than allowed."""


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when containers nest deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """``json.loads`` that raises TooDeep for a document nested deeper than ``max_depth``."""
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if depth_exceeds(value, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return value


def scrub_text(value: Any) -> Any:
    """Strings PostgreSQL can store: a lone surrogate (``"\\ud800"`` in JSON) becomes U+FFFD,
    NUL is dropped. Walks dicts and lists (iteratively) and returns a cleaned copy."""

    def clean(text: str) -> str:
        if "\x00" in text:
            text = text.replace("\x00", "")
        return _SURROGATE.sub("\ufffd", text)

    if isinstance(value, str):
        return clean(value)
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, dict | list):
                copy: Any = {} if isinstance(item, dict) else []
                stack.append((item, copy))
            elif isinstance(item, str):
                copy = clean(item)
            else:
                copy = item
            if isinstance(target, dict):
                target[clean(key)] = copy
            else:
                target.append(copy)
    return root
