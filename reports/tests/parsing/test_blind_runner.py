"""bench/parse_blind.py: the accuracy figures on a corpus the parser was not fixed against,
and their line in ``make bench`` (bench/run_all.py)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import parse_blind, run_all


def _write(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), "utf-8")
    return path


CASES = [
    {  # right: 2 judged fields + observed_at
        "id": "a",
        "text": "16時現在 箭田小学校 避難者 85名",
        "category": "evacuees",
        "fields": {"facility": "箭田小学校", "count": 85},
        "observed_at": "2024-07-06T16:00:00+09:00",
    },
    {  # right category, one field wrong (the expectation says 90)
        "id": "b",
        "text": "水島地区 停電 約3,400戸",
        "category": "outage",
        "fields": {"total_households": 90},
    },
    {  # wrong category: its judged field counts wrong too
        "id": "c",
        "text": "了解しました",
        "category": "fire",
        "fields": {"area": "玉島"},
    },
    {  # a shelter group's bare count: the sender context is used
        "id": "d",
        "text": "35名",
        "category": "evacuees",
        "agency_kind": "shelter_operator",
        "agency_facility": "二万小学校",
        "fields": {"facility": "二万小学校", "count": 35},
    },
]


def test_blind_figures_count_categories_fields_and_observed_at(tmp_path, capsys) -> None:
    path = _write(tmp_path / "corpus.jsonl", CASES)
    assert parse_blind.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "category accuracy: 3/4 (75.0 %)" in out
    assert "field accuracy: 5/7 (71.4 %)" in out
    assert "[b]" in out and "total_households: expected 90, got 3400" in out
    assert "[c] category fire→general" in out
    assert "[a]" not in out and "[d]" not in out


def test_blind_json_output_and_an_unreadable_corpus(tmp_path, capsys) -> None:
    path = _write(tmp_path / "corpus.jsonl", CASES[:1])
    assert parse_blind.main([str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    figures = (data["messages"], data["category_ok"], data["fields"], data["fields_ok"])
    assert figures == (1, 1, 3, 3)
    assert parse_blind.main([str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_make_bench_reads_the_blind_figure_and_the_goals() -> None:
    output = (
        "throughput: 5,210 messages/s on one core\n"
        "worst case max: 12.5 ms (100 KB of text); goal ≤ 50 ms: met\n"
        "all                383     100.0%    100.0%  800/800\n"
        "\nblind corpus corpus_blind_2026_12.jsonl: category 141/150 (94.0 %), "
        "fields 350/407 (86.0 %)\n"
    )
    figures = {f.name: f for f in run_all.parse_parser(output)}
    assert figures["parser rate (one core)"].met is True
    assert figures["parser worst-case input"].met is True
    blind = figures["parser accuracy, blind corpus"]
    assert blind.value.startswith("category 94.0 % (141/150), fields 86.0 % (350/407)")
    absent = {
        f.name: f.value
        for f in run_all.parse_parser("blind corpus: not present (corpus_blind_2026_12.jsonl)")
    }
    assert absent == {
        "parser accuracy, blind corpus": "not run: corpus_blind_2026_12.jsonl not present"
    }
