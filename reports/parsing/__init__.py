"""Japanese report parser: free text → category and structured fields (design.md §5, §6).

No Django: tested and benchmarked on its own. Besides the standard library it uses SudachiPy
with the sudachidict-core dictionary (readings, word boundaries; language.py) and the 倉敷市
gazetteer files in data/ (gazetteer.py); everything is offline and deterministic.

    >>> from reports.parsing import parse, SenderContext
    >>> parse("停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定").category
    'outage'
"""

from __future__ import annotations

from .parser import parse, parse_strict
from .schema import (
    AGENCY_KINDS,
    CATEGORIES,
    CATEGORY_FIELDS,
    CATEGORY_LABELS,
    REQUIRED_FIELDS,
    ParseResult,
    SenderContext,
)

__all__ = [
    "AGENCY_KINDS",
    "CATEGORIES",
    "CATEGORY_FIELDS",
    "CATEGORY_LABELS",
    "REQUIRED_FIELDS",
    "ParseResult",
    "SenderContext",
    "parse",
    "parse_strict",
]
