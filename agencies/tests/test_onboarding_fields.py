"""The directory file carries the onboarding fields of an agency: its LINE WORKS group (or
org unit) for the directory sync, whether it is on another tenant, its contact e-mail."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agencies.models import Agency

pytestmark = pytest.mark.django_db


def import_file(tmp_path, data) -> str:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = StringIO()
    call_command("import_directory", str(path), stdout=out)
    return out.getvalue()


def test_import_sets_group_external_tenant_and_contact_email(tmp_path):
    import_file(
        tmp_path,
        {
            "agencies": [
                {
                    "code": "river-office",
                    "name": "国土交通省 岡山河川事務所",
                    "kind": "waterway",
                    "external_tenant": True,
                    "contact_email": "kasen-bousai@okayama-river.example.jp",
                },
                {
                    "code": "mabi-shelter",
                    "name": "真備地区避難所運営班",
                    "kind": "shelter_operator",
                    "lineworks_channel_id": "ch-mabi",
                    "lineworks_group_id": "grp-mabi-shelter",
                },
            ]
        },
    )
    river = Agency.objects.get(code="river-office")
    assert river.external_tenant and river.contact_email.endswith("@okayama-river.example.jp")
    assert Agency.objects.get(code="mabi-shelter").lineworks_group_id == "grp-mabi-shelter"
    # Keys left out keep the stored values.
    import_file(
        tmp_path,
        {"agencies": [{"code": "river-office", "name": "岡山河川事務所", "kind": "waterway"}]},
    )
    river.refresh_from_db()
    assert river.external_tenant and river.name == "岡山河川事務所"


def test_bad_onboarding_fields_are_named_and_nothing_is_written(tmp_path):
    with pytest.raises(CommandError) as error:
        import_file(
            tmp_path,
            {
                "agencies": [
                    {
                        "code": "river-office",
                        "name": "国土交通省 岡山河川事務所",
                        "kind": "waterway",
                        "external_tenant": "yes",
                        "contact_email": "河川事務所",
                    }
                ]
            },
        )
    message = str(error.value)
    assert (
        "agencies[0] (code=river-office): external_tenant は true か false で指定してください"
        in message
    )
    assert "contact_email はメールアドレスで指定してください" in message
    assert not Agency.objects.exists()
