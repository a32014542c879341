"""Demo talk rooms: what the bot's join/joined events would have recorded for the demo
agencies, so the onboarding view shows varied states (``seed_demo`` calls this).

* most agencies' rooms: the bot joined weeks ago, the members with LINE WORKS ids are in;
* 児島中央病院 (kojima-hospital) has a room id but the bot was never invited;
* 水島中央病院 (mizushima-hospital): the bot was removed from the room two days ago;
* 国土交通省 岡山河川事務所 (river-office) is on another tenant and has no room at all.

Idempotent: rooms that exist are left as they are (later demo events may have changed them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from agencies.models import Agency, Member
from lineworks.models import Channel, ChannelMember

NEVER_JOINED = "kojima-hospital"
BOT_LEFT = "mizushima-hospital"


def demo_rooms_seed(*, now: datetime | None = None) -> int:
    """Create the demo agencies' rooms. Returns how many were created."""
    now = now or timezone.now()
    created = 0
    with transaction.atomic():
        agencies = Agency.objects.filter(active=True).exclude(lineworks_channel_id="")
        for agency in agencies.filter(lineworks_channel_id__startswith="demo-ch-"):
            if agency.code == NEVER_JOINED:
                continue
            left = agency.code == BOT_LEFT
            channel, made = Channel.objects.get_or_create(
                channel_id=agency.lineworks_channel_id,
                defaults={
                    "title": agency.name,
                    "channel_type": "MULTI_USERS",
                    "bot_joined": not left,
                    "joined_at": now - timedelta(days=30),
                    "left_at": now - timedelta(days=2) if left else None,
                    "updated_at": now,
                },
            )
            if not made:
                continue
            created += 1
            ids = Member.objects.filter(agency=agency).exclude(lineworks_user_id="")
            ChannelMember.objects.bulk_create(
                ChannelMember(channel=channel, user_id=user_id, active=not left, updated_at=now)
                for user_id in ids.values_list("lineworks_user_id", flat=True)
            )
    return created
