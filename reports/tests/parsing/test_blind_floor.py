"""The first blind corpus (data/blind/corpus_blind_2026_12.jsonl) as a regression floor.

This is a regression test, not an accuracy claim. The corpus was written before the parser
saw it and measured once that way: category 251/258 (97.3 %), fields 593/650 (91.2 %). Since
then the parser has been fixed against its failures, so the figures it reaches now say only
that those fixes hold; how the parser reads messages it has not seen is measured on a corpus
it has not seen. The floor is the figure reached after those fixes: any change that makes
the parser read one of these messages worse fails here.
"""

from __future__ import annotations

from bench import parse_blind
from bench.parse_bench import load

from .helpers import DATA_DIR

FIRST_BLIND = DATA_DIR / "blind" / "corpus_blind_2026_12.jsonl"

CATEGORY_FLOOR = 258  # of 258 messages (first run: 251)
FIELDS_FLOOR = 650  # of 650 judged fields (first run: 593)


def test_first_blind_corpus_does_not_regress() -> None:
    score = parse_blind.evaluate(load(FIRST_BLIND))
    assert (score.messages, score.fields) == (258, 650), "the corpus itself changed"
    listed = "\n".join(
        f"[{f['id']}] {f['text'][:60]} {f['category']} {f['fields']}" for f in score.failures
    )
    assert score.category_ok >= CATEGORY_FLOOR, listed
    assert score.fields_ok >= FIELDS_FLOOR, listed
