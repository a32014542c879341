"""The fixed cast every test uses (style.md §9): an HQ operator, a reporter of agency A (a
shelter group in 真備), a reporter of agency B (the power company), an auditor, a stranger.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from agencies.models import Agency, AgencyKind, District, Facility, FacilityKind, Member, Role

PASSWORD = "correct-horse-battery"


# --- browser tests (marker ``browser``) -----------------------------------------------------
def find_chromium() -> str | None:
    """Debian's Chromium: KDR_CHROMIUM (a path or a command) when set, else ``chromium`` on
    PATH, else /usr/bin/chromium."""
    wanted = os.environ.get("KDR_CHROMIUM")
    if wanted is not None:
        return shutil.which(wanted) if wanted.strip() else None
    return shutil.which("chromium") or shutil.which("/usr/bin/chromium")


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, in one line; None when they can."""
    if find_chromium() is None:
        where = os.environ.get("KDR_CHROMIUM") or "chromium on PATH or /usr/bin/chromium"
        return (
            f"Chromium not found ({where}): install Debian's chromium and fonts-noto-cjk "
            "(.ci/run does) or set KDR_CHROMIUM to its path"
        )
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def _browsers_required() -> bool:
    """CI runs every browser test: there a missing Chromium is a failure, not a skip."""
    return (
        os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
        or os.environ.get("REQUIRE_SERVICES") == "1"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") is None:
        return
    problem = browser_unavailable()
    if problem is None:
        return
    if _browsers_required():
        pytest.fail(f"{problem} (required when CI or REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(f"browser test skipped: {problem}")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = find_chromium()
    assert path, "browser tests run only where pytest_runtest_setup found Chromium"
    return path


def make_user(username: str, *, role: str | None, agency: Agency | None, **member: Any) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    if agency is not None:
        Member.objects.create(
            user=user,
            agency=agency,
            display_name=member.get("name", username),
            lineworks_user_id=member.get("lineworks_user_id", ""),
        )
    return user


@pytest.fixture
def districts(db) -> dict[str, District]:
    data = {
        "mabi": ("真備", 34.6350, 133.6960),
        "tamashima": ("玉島", 34.5480, 133.6720),
        "mizushima": ("水島", 34.5190, 133.7370),
        "kojima": ("児島", 34.4700, 133.8050),
        "kurashiki": ("倉敷", 34.5850, 133.7720),
    }
    return {
        code: District.objects.create(code=code, name=name, lat=lat, lng=lng)
        for code, (name, lat, lng) in data.items()
    }


@pytest.fixture
def hq_agency(db) -> Agency:
    return Agency.objects.create(
        code="hq", name="倉敷市災害対策本部", kind=AgencyKind.HQ, lineworks_channel_id="ch-hq"
    )


@pytest.fixture
def agency_a(db, districts) -> Agency:
    agency = Agency.objects.create(
        code="mabi-shelter",
        name="真備地区避難所運営班",
        kind=AgencyKind.SHELTER_OPERATOR,
        lineworks_channel_id="ch-mabi-shelter",
    )
    Facility.objects.create(
        code="yata-es",
        name="箭田小学校",
        kind=FacilityKind.SHELTER,
        agency=agency,
        district=districts["mabi"],
        lat=34.6371,
        lng=133.6921,
        capacity=400,
    )
    return agency


@pytest.fixture
def agency_b(db) -> Agency:
    return Agency.objects.create(
        code="chuden-kurashiki",
        name="中国電力ネットワーク 倉敷ネットワークセンター",
        kind=AgencyKind.POWER,
        lineworks_channel_id="ch-power",
    )


@pytest.fixture
def hospital_agency(db, districts) -> Agency:
    agency = Agency.objects.create(
        code="mabi-hospital",
        name="まび記念病院",
        kind=AgencyKind.MEDICAL,
        lineworks_channel_id="ch-mabi-hospital",
    )
    Facility.objects.create(
        code="mabi-kinen",
        name="まび記念病院",
        kind=FacilityKind.HOSPITAL,
        agency=agency,
        district=districts["mabi"],
        lat=34.6390,
        lng=133.6990,
        capacity=80,
    )
    return agency


@pytest.fixture
def hq_user(hq_agency) -> User:
    return make_user(
        "hq-operator",
        role=Role.HQ_OPERATOR,
        agency=hq_agency,
        name="本部 太郎",
        lineworks_user_id="lw-hq-1",
    )


@pytest.fixture
def reporter_a(agency_a) -> User:
    return make_user(
        "reporter-a",
        role=Role.AGENCY_REPORTER,
        agency=agency_a,
        name="真備 花子",
        lineworks_user_id="lw-a-1",
    )


@pytest.fixture
def reporter_b(agency_b) -> User:
    return make_user(
        "reporter-b",
        role=Role.AGENCY_REPORTER,
        agency=agency_b,
        name="電力 次郎",
        lineworks_user_id="lw-b-1",
    )


@pytest.fixture
def auditor(db) -> User:
    return make_user("auditor", role=Role.AUDITOR, agency=None)


@pytest.fixture
def stranger(db) -> User:
    """Logged in, but in no group and no agency."""
    return make_user("stranger", role=None, agency=None)


def login(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def cast(hq_user, reporter_a, reporter_b, auditor, stranger) -> dict[str, User | None]:
    return {
        "hq": hq_user,
        "reporter_a": reporter_a,
        "reporter_b": reporter_b,
        "auditor": auditor,
        "stranger": stranger,
        "anonymous": None,
    }
