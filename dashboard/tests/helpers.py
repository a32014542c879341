"""Report data for the dashboard tests, created through reports.services like real reports."""

from __future__ import annotations

from datetime import datetime

from reports import services
from reports.models import Report, ReportChannel

# A 1×1 PNG: the smallest photo the photo service accepts.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def evacuees(
    user,
    agency,
    count: int,
    *,
    facility: str = "箭田小学校",
    observed_at: datetime | None = None,
    recorded_at: datetime | None = None,
) -> Report:
    return services.report_submit(
        agency=agency,
        author=user,
        category="evacuees",
        fields={"facility": facility, "count": count, "households": None},
        text=f"{facility} 避難者数 {count}名",
        observed_at=observed_at,
        recorded_at=recorded_at,
        channel=ReportChannel.WEB,
    )


def outage(user, agency, areas: dict[str, int], *, observed_at: datetime | None = None) -> Report:
    return services.report_submit(
        agency=agency,
        author=user,
        category="outage",
        fields={
            "areas": [{"area": a, "households": n} for a, n in areas.items()],
            "restoration": "未定",
        },
        text="停電情報 " + " ".join(f"{a}：{n:,}世帯" for a, n in areas.items()),
        observed_at=observed_at,
    )


def road(user, agency, road_name: str, place: str, *, location=None) -> Report:
    return services.report_submit(
        agency=agency,
        author=user,
        category="road_closure",
        fields={"road": road_name, "place": place, "cause": "landslide", "passable": False},
        text=f"{road_name}{place}付近にて土砂災害発生、通行不可",
        location=location,
    )


def medical(user, agency, *, accepting: bool, beds: int) -> Report:
    return services.report_submit(
        agency=agency,
        author=user,
        category="medical_capacity",
        fields={"facility": "まび記念病院", "accepting": accepting, "beds_available": beds},
        text=f"状況報告 まび記念病院：{'受け入れ可能' if accepting else '受け入れ不可'}"
        f"、病床数{beds}",
    )
