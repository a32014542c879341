"""``python manage.py parse_report`` (design.md §6), through call_command with a fake stdin."""

from __future__ import annotations

import io
import json
import sys

import pytest

if "pytest_django.plugin" not in sys.modules:  # e.g. the pure run with -p no:django
    pytest.skip("needs pytest-django and the project's settings", allow_module_level=True)

from django.core.management import CommandError, call_command  # noqa: E402

from agencies.models import Agency, AgencyKind, Facility, FacilityKind  # noqa: E402

pytestmark = pytest.mark.django_db

NOW = "2024-07-06T20:00:00+09:00"


def run(monkeypatch: pytest.MonkeyPatch, stdin: str, *args: str) -> list[dict]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("parse_report", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture
def shelter_agency() -> Agency:
    agency = Agency.objects.create(
        code="cmd-shelter", name="箭田小学校避難所運営班", kind=AgencyKind.SHELTER_OPERATOR
    )
    Facility.objects.create(
        code="cmd-yata", name="箭田小学校", kind=FacilityKind.SHELTER, agency=agency
    )
    return agency


def test_one_message_on_stdin_prints_one_object(monkeypatch: pytest.MonkeyPatch) -> None:
    (result,) = run(
        monkeypatch, "18:45現在 児島地区 停電 約2,300世帯 復旧見込み21時頃\n", "--now", NOW
    )
    assert result == {
        "category": "outage",
        "fields": {
            "areas": [{"area": "児島地区", "households": 2300}],
            "total_households": 2300,
            "restoration": "21時頃",
        },
        "observed_at": "2024-07-06T18:45:00+09:00",
        "missing": [],
        "confidence": result["confidence"],
    }
    assert 0 < result["confidence"] <= 1


def test_output_keeps_japanese_unescaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("箭田小学校 避難者数 120名"))
    out = io.StringIO()
    call_command("parse_report", stdout=out)
    assert "箭田小学校" in out.getvalue()


def test_jsonl_prints_one_object_per_line_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [
        json.dumps("箭田小学校 避難者数 120名（45世帯）", ensure_ascii=False),
        "not json",
        json.dumps(42),
        json.dumps("お疲れ様です"),
        "",
        json.dumps({"text": "県道22号 船穂町付近 冠水 通行止め"}, ensure_ascii=False),
    ]
    results = run(monkeypatch, "\n".join(lines) + "\n", "--jsonl", "--now", NOW)
    assert len(results) == 6
    assert results[0]["category"] == "evacuees"
    assert results[0]["fields"]["count"] == 120
    assert "error" in results[1] and results[1]["line"] == 2
    assert "error" in results[2] and results[2]["line"] == 3
    assert results[3]["category"] == "general"
    assert "error" in results[4]
    assert results[5]["category"] == "road_closure"


def test_agency_context_reads_a_bare_count(
    monkeypatch: pytest.MonkeyPatch, shelter_agency: Agency
) -> None:
    (result,) = run(monkeypatch, "35名", "--agency", shelter_agency.code)
    assert result["category"] == "evacuees"
    assert result["fields"] == {"facility": "箭田小学校", "count": 35, "households": None}
    assert result["missing"] == []


def test_agency_with_several_facilities_gives_no_facility(
    monkeypatch: pytest.MonkeyPatch, shelter_agency: Agency
) -> None:
    Facility.objects.create(
        code="cmd-niman", name="二万小学校", kind=FacilityKind.SHELTER, agency=shelter_agency
    )
    (result,) = run(monkeypatch, "35名", "--agency", shelter_agency.code)
    assert result["category"] == "evacuees"
    assert result["fields"]["facility"] is None
    assert result["missing"] == ["facility"]


def test_unknown_agency_is_a_japanese_command_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("35名"))
    with pytest.raises(CommandError, match="機関コード「nope」は登録されていません"):
        call_command("parse_report", "--agency", "nope", stdout=io.StringIO())


def test_bad_now_is_a_command_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("35名"))
    with pytest.raises(CommandError, match="--now"):
        call_command("parse_report", "--now", "yesterday", stdout=io.StringIO())
