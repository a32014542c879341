"""Report parser accuracy on a corpus the parser was not tuned on (or any corpus).

    python -m bench.parse_blind PATH [--failures N] [--json]

PATH: JSONL, one message a line: ``id``, ``text``, ``category``, ``fields`` (the judged
subset), optionally ``agency_kind``, ``agency_facility`` (the sender context) and
``observed_at`` (ISO 8601). Every message is parsed against the same "now" as the regression
tests (2024-07-06T20:00+09:00).

Prints category accuracy (messages whose category is right, n/N and %) and field accuracy
(judged fields that came out right / all judged fields; ``observed_at`` counts as a judged
field when the line has it; a wrong category counts all of its judged fields wrong), then the
failures. Exit status 0 (figures, not a gate); 2 when PATH cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.parse_bench import NOW, context_of, load  # noqa: E402
from reports.parsing import parse  # noqa: E402

BUCKETS = (("≥ 0.8", 0.8), ("0.5–0.8", 0.5), ("< 0.5", 0.0))
# The blind corpus the parser has not been fixed against. corpus_blind_2026_12.jsonl was the
# first; after its first run it became a regression corpus (test_blind_floor.py), and this one,
# written later by another author who had not read the parser, took its place.
BLIND = ROOT / "reports" / "tests" / "parsing" / "data" / "blind" / "corpus_blind_2026_12b.jsonl"


@dataclass
class Score:
    messages: int = 0
    category_ok: int = 0
    fields: int = 0
    fields_ok: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    # confidence bucket → [messages, category right]: is the confidence worth believing?
    buckets: dict[str, list[int]] = field(
        default_factory=lambda: {name: [0, 0] for name, _ in BUCKETS}
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "category_ok": self.category_ok,
            "fields": self.fields,
            "fields_ok": self.fields_ok,
            "confidence": {k: {"n": n, "category_ok": ok} for k, (n, ok) in self.buckets.items()},
        }


def evaluate(cases: list[dict[str, Any]]) -> Score:
    score = Score()
    for number, case in enumerate(cases, 1):
        result = parse(case.get("text", ""), context=context_of(case), now=NOW)
        score.messages += 1
        category_ok = result.category == case["category"]
        score.category_ok += category_ok
        bucket = next(name for name, low in BUCKETS if result.confidence >= low)
        score.buckets[bucket][0] += 1
        score.buckets[bucket][1] += category_ok
        wrong: dict[str, Any] = {}
        judged = dict(case.get("fields") or {})
        for name, expected in judged.items():
            got = result.fields.get(name) if category_ok else None
            score.fields += 1
            if category_ok and got == expected:
                score.fields_ok += 1
            else:
                wrong[name] = {"expected": expected, "got": result.fields.get(name)}
        if "observed_at" in case:
            got_at = result.observed_at.isoformat() if result.observed_at else None
            score.fields += 1
            if got_at == case["observed_at"]:
                score.fields_ok += 1
            else:
                wrong["observed_at"] = {"expected": case["observed_at"], "got": got_at}
        if not category_ok or wrong:
            score.failures.append(
                {
                    "id": case.get("id", number),
                    "text": case.get("text", ""),
                    "category": {"expected": case["category"], "got": result.category},
                    "confidence": result.confidence,
                    "fields": wrong,
                }
            )
    return score


def pct(ok: int, total: int) -> str:
    return f"{100 * ok / total:.1f} %" if total else "-"


def report(path: Path, score: Score, failures: int) -> None:
    print(f"report parser on {path.name}: {score.messages} messages")
    print(
        f"category accuracy: {score.category_ok}/{score.messages} "
        f"({pct(score.category_ok, score.messages)})"
    )
    fields = pct(score.fields_ok, score.fields)
    print(f"field accuracy: {score.fields_ok}/{score.fields} ({fields})")
    calibration = ", ".join(
        f"{name}: {ok}/{n} right" for name, (n, ok) in score.buckets.items() if n
    )
    print(f"confidence (messages by confidence, category right): {calibration}")
    if not score.failures:
        return
    print(f"\nfailures ({len(score.failures)}; first {min(failures, len(score.failures))}):")
    for failure in score.failures[:failures]:
        text = failure["text"].replace("\n", "⏎")
        cat = failure["category"]
        mark = "" if cat["expected"] == cat["got"] else f" category {cat['expected']}→{cat['got']}"
        print(f"- [{failure['id']}]{mark} (confidence {failure['confidence']}) {text[:80]}")
        for name, pair in failure["fields"].items():
            got = json.dumps(pair["got"], ensure_ascii=False)
            expected = json.dumps(pair["expected"], ensure_ascii=False)
            print(f"    {name}: expected {expected}, got {got}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, nargs="?", default=BLIND)
    parser.add_argument("--failures", type=int, default=200, help="how many failures to list")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object")
    args = parser.parse_args(argv)
    try:
        cases = load(args.path)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.path}: {exc}", file=sys.stderr)
        return 2
    score = evaluate(cases)
    if args.json:
        print(json.dumps({"corpus": args.path.name, **score.as_dict()}))
    else:
        report(args.path, score, args.failures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
