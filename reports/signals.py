"""Domain events other apps subscribe to (e.g. lineworks mirrors web reports to HQ's talk).

They are sent by reports.services inside the transaction of the change, so a receiver can
write its own rows atomically with it (an OutboundMessage row before anything is sent).
Receivers must not call out to the network; they schedule work with transaction.on_commit.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: revision (ReportRevision)
report_recorded = Signal()
# kwargs: incident (Incident), action (str)
incident_changed = Signal()
