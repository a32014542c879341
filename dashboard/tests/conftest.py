from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    """Chart points are cached across requests; each test starts from an empty cache."""
    cache.clear()
    yield
