"""The auditor's workspace (HTML and downloads). Read-only: every page is a GET, and opening
a page or downloading an export is itself an audit event. The two POSTs (publish the chain
head, verify the chain now) change no report; they add to the chain's own evidence.

Auditors and HQ operators may enter; everyone else gets 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from audit import cap, exports
from audit.access import can_audit
from audit.bundle import photo_file_problems, stream_bundle
from audit.forms import BundleForm, EventFilterForm, MomentForm, ReportSearchForm, WindowForm
from audit.history import report_history
from audit.models import AuditEvent, ChainAnchor, ChainVerification
from audit.services import (
    AnchorRateLimited,
    audit_record,
    chain_anchor_request,
    chain_head,
    filter_events,
)
from audit.tasks import chain_verify_task
from audit.zipstream import ZipStream
from notices.models import Notice
from reports.access import reports_for_user
from reports.models import Photo, Report

PAGE_SIZE = 50
EVENTS_PAGE = 100


def auditor_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_audit(request.user):
            raise PermissionDenied(_("監査の画面は監査担当と本部のみが利用できます。"))
        return view(request, *args, **kwargs)

    return wrapper


def _record(request: HttpRequest, action: str, **kwargs: Any) -> None:
    with transaction.atomic():
        audit_record(actor=request.user, action=action, channel="web", **kwargs)


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M%S")


def _download(chunks: Iterator[bytes], content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --- Pages --------------------------------------------------------------------------------


@require_GET
@auditor_required
def index(request: HttpRequest) -> HttpResponse:
    """Search all reports."""
    form = ReportSearchForm(request.GET or None)
    flt = form.to_filter()
    if form.is_bound and not form.is_valid():
        reports = Report.objects.none()
    else:
        reports = reports_for_user(
            request.user,
            flt.queryset().select_related("agency", "author", "current_revision", "incident"),
        )
    paginator = Paginator(reports.order_by("-recorded_at", "-id"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    _record(
        request,
        "audit.view",
        object_type="reports.report",
        payload={"page": "search", "filters": flt.describe(), "page_number": page.number},
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/index.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "filtered": not flt.empty,
            "section": "search",
        },
    )


@require_GET
@auditor_required
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(
        reports_for_user(request.user, Report.objects.select_related("agency", "incident")), pk=pk
    )
    history = report_history(report)
    _record(
        request,
        "audit.view",
        obj=report,
        payload={"page": "history", "report_number": report.number},
    )
    return render(
        request,
        "audit/report.html",
        {"history": history, "report": report, "section": "search"},
    )


@require_GET
@auditor_required
def photo(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(
        Photo.objects.filter(report__in=reports_for_user(request.user).values("pk")), pk=pk
    )
    try:
        handle = default_storage.open(item.image.name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404(_("写真のファイルが見つかりません。")) from None
    _record(request, "audit.view", obj=item, payload={"page": "photo", "sha256": item.sha256})
    response = FileResponse(handle, content_type=item.content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@auditor_required
def events(request: HttpRequest) -> HttpResponse:
    """The audit log, newest first, in keyset pages (the log holds millions of rows)."""
    form = EventFilterForm(request.GET or None)
    qs = AuditEvent.objects.all()
    before = after = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        qs = filter_events(qs, data)
        before, after = data.get("before"), data.get("after")
    elif form.is_bound:
        qs = qs.none()
    if after is not None:
        rows = list(qs.filter(id__gt=after).order_by("id")[:EVENTS_PAGE])[::-1]
    elif before is not None:
        rows = list(qs.filter(id__lt=before).order_by("-id")[:EVENTS_PAGE])
    else:
        rows = list(qs.order_by("-id")[:EVENTS_PAGE])
    newer = bool(rows) and qs.filter(id__gt=rows[0].pk).exists()
    older = bool(rows) and qs.filter(id__lt=rows[-1].pk).exists()
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    _record(
        request,
        "audit.view",
        object_type="audit.auditevent",
        payload={
            "page": "events",
            "filters": form.describe(),
            "first": rows[0].pk if rows else None,
            "last": rows[-1].pk if rows else None,
        },
    )
    return render(
        request,
        "audit/events.html",
        {
            "form": form,
            "rows": rows,
            "newer": newer,
            "older": older,
            "newest_id": rows[0].pk if rows else None,
            "oldest_id": rows[-1].pk if rows else None,
            "query": query.urlencode(),
            "section": "events",
        },
    )


@require_GET
@auditor_required
def chain_status(request: HttpRequest) -> HttpResponse:
    head = chain_head()
    runs = list(ChainVerification.objects.select_related("requested_by")[:10])
    last_ok = ChainVerification.objects.filter(ok=True).first()
    last_run = next((r for r in runs if r.finished_at is not None), None)
    running = any(
        r.finished_at is None and (timezone.now() - r.started_at).total_seconds() < 900
        for r in runs
    )
    anchors = list(ChainAnchor.objects.select_related("created_by")[:20])
    _record(
        request,
        "audit.view",
        object_type="audit.chain",
        payload={"page": "chain", "head": head["id"] if head else None},
    )
    return render(
        request,
        "audit/chain.html",
        {
            "head": head,
            "runs": runs,
            "last_ok": last_ok,
            "last_run": last_run,
            "running": running,
            "anchors": anchors,
            "section": "chain",
        },
    )


@require_POST
@auditor_required
def anchor_publish(request: HttpRequest) -> HttpResponse:
    """Publish the chain head now (an auditor's or HQ's button). Quick: one anchor row, one
    event and the outbox row the LINE WORKS receiver adds. Rate-limited per person; the
    same head twice sends nothing."""
    try:
        result = chain_anchor_request(actor=request.user)
    except AnchorRateLimited as refused:
        messages.error(request, refused.message)
        return redirect("audit:chain")
    anchor = result.anchor
    if anchor is None:
        messages.info(request, _("監査ログはまだ空です。"))
    elif not result.created:
        messages.info(
            request,
            _(
                "イベント #%(n)s までのハッシュは %(t)s に公開済みです。"
                "その後に新しい記録がないため、送信しませんでした。"
            )
            % {
                "n": anchor.head_id,
                "t": timezone.localtime(anchor.created_at).strftime("%Y-%m-%d %H:%M"),
            },
        )
    else:
        messages.success(
            request,
            _(
                "イベント #%(n)s までのハッシュを公開しました。"
                "本部の LINE WORKS トークに送信されます。"
            )
            % {"n": anchor.head_id},
        )
    return redirect("audit:chain")


@require_POST
@auditor_required
def chain_verify(request: HttpRequest) -> HttpResponse:
    transaction.on_commit(lambda: chain_verify_task.delay(user_id=request.user.pk))
    messages.success(
        request, _("検証を開始しました。件数が多いと数分かかります。この画面を更新してください。")
    )
    return redirect("audit:chain")


@require_GET
@auditor_required
def exports_page(request: HttpRequest) -> HttpResponse:
    notices = list(Notice.objects.select_related("incident").order_by("-created_at")[:50])
    evacuations = list(cap.evacuation_reports().order_by("-recorded_at")[:50])
    _record(request, "audit.view", object_type="audit.export", payload={"page": "exports"})
    return render(
        request,
        "audit/exports.html",
        {
            "moment_form": MomentForm(),
            "window_form": WindowForm(),
            "bundle_form": BundleForm(),
            "search_form": ReportSearchForm(),
            "notices": notices,
            "evacuations": evacuations,
            "section": "exports",
        },
    )


# --- Exports ------------------------------------------------------------------------------


def _search_filter(request: HttpRequest) -> exports.ReportFilter | HttpResponse:
    form = ReportSearchForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(
            _("検索条件が正しくありません: %(e)s") % {"e": form.errors.as_text()},
            content_type="text/plain; charset=utf-8",
        )
    return form.to_filter()


@require_GET
@auditor_required
def export_csv(request: HttpRequest) -> HttpResponse:
    flt = _search_filter(request)
    if isinstance(flt, HttpResponse):
        return flt
    _record(
        request,
        "audit.export",
        object_type="reports.report",
        payload={"format": "csv", "filters": flt.describe()},
    )
    return _download(exports.stream_csv(flt), "text/csv; charset=utf-8", f"reports-{_stamp()}.csv")


@require_GET
@auditor_required
def export_jsonl(request: HttpRequest) -> HttpResponse:
    flt = _search_filter(request)
    if isinstance(flt, HttpResponse):
        return flt
    _record(
        request,
        "audit.export",
        object_type="reports.report",
        payload={"format": "jsonl", "filters": flt.describe()},
    )
    return _download(
        exports.stream_jsonl(flt),
        "application/x-ndjson; charset=utf-8",
        f"reports-{_stamp()}.jsonl",
    )


@require_GET
@auditor_required
def export_geojson(request: HttpRequest) -> HttpResponse:
    form = MomentForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(_("時点の指定が正しくありません。"))
    as_of = form.cleaned_data.get("as_of") if form.is_bound else None
    _record(
        request,
        "audit.export",
        object_type="reports.situation",
        payload={"format": "geojson", "as_of": as_of.isoformat() if as_of else None},
    )
    body = exports.situation_geojson_bytes(as_of)
    return _download(iter([body]), "application/geo+json", f"situation-{_stamp()}.geojson")


@require_GET
@auditor_required
def cap_notice(request: HttpRequest, pk: int) -> HttpResponse:
    notice = get_object_or_404(Notice.objects.select_related("incident"), pk=pk)
    _record(request, "audit.export", obj=notice, payload={"format": "cap"})
    body = cap.to_bytes(cap.notice_alert(notice))
    return _download(iter([body]), cap.CONTENT_TYPE, f"{cap.notice_identifier(notice)}.xml")


@require_GET
@auditor_required
def cap_report(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(reports_for_user(request.user).select_related("agency"), pk=pk)
    alert = cap.latest_evacuation_alert(report)
    if alert is None:
        raise Http404(_("この報告は避難指示を含みません。"))
    _record(request, "audit.export", obj=report, payload={"format": "cap"})
    return _download(iter([cap.to_bytes(alert)]), cap.CONTENT_TYPE, f"{report.number}.xml")


@require_GET
@auditor_required
def export_cap(request: HttpRequest) -> HttpResponse:
    """Every notice and evacuation-order message in a window, one CAP file each, zipped."""
    form = WindowForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(_("期間の指定が正しくありません。"))
    data = form.cleaned_data if form.is_bound else {}
    since, until = data.get("since"), data.get("until")
    _record(
        request,
        "audit.export",
        object_type="notices.notice",
        payload={
            "format": "cap-zip",
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
    )

    def chunks() -> Iterator[bytes]:
        archive = ZipStream(timezone.localtime())
        notices = (
            Notice.objects.select_related("incident")
            .prefetch_related("recipients__agency")
            .order_by("id")
        )
        if since:
            notices = notices.filter(created_at__gte=since)
        if until:
            notices = notices.filter(created_at__lt=until)
        for notice in notices.iterator(chunk_size=200):
            body = cap.to_bytes(cap.notice_alert(notice))
            yield from archive.member(f"notices/{cap.notice_identifier(notice)}.xml", [body])
        reports = cap.evacuation_reports().order_by("id")
        for report in reports:
            for alert in cap.evacuation_alerts(report, cap.report_revisions(report)):
                sent = alert.findtext(f"{{{cap.CAP_NS}}}sent") or ""
                if (since and sent < cap.cap_time(since)) or (
                    until and sent >= cap.cap_time(until)
                ):
                    continue
                ident = alert.findtext(f"{{{cap.CAP_NS}}}identifier")
                yield from archive.member(f"evacuation/{ident}.xml", [cap.to_bytes(alert)])
        yield archive.close()

    return _download(chunks(), "application/zip", f"cap-{_stamp()}.zip")


@require_GET
@auditor_required
def export_bundle(request: HttpRequest) -> HttpResponse:
    form = BundleForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(
            " ".join(str(e) for errors in form.errors.values() for e in errors),
            content_type="text/plain; charset=utf-8",
        )
    flt = form.to_filter()
    problems = photo_file_problems(flt)
    if problems:
        lines = [
            _(
                "写真のファイルが失われているか、保存時の SHA-256 と一致しないため、"
                "証拠パッケージを作成できません。改ざん検証を実行し、管理者に連絡してください。"
            ),
            *(
                _("写真 #%(id)s: %(problem)s")
                % {
                    "id": pk,
                    "problem": _("ファイルがありません")
                    if "missing" in problem
                    else _("ファイルの SHA-256 が保存時と一致しません"),
                }
                for pk, problem in problems
            ),
        ]
        return HttpResponse("\n".join(lines), status=409, content_type="text/plain; charset=utf-8")
    moment = timezone.now()
    if flt.incident is not None:
        _record(
            request,
            "audit.export",
            obj=flt.incident,
            payload={"format": "bundle", "filters": flt.describe()},
        )
    else:
        _record(
            request,
            "audit.export",
            object_type="reports.report",
            payload={"format": "bundle", "filters": flt.describe()},
        )
    readme = render_to_string(
        "audit/bundle_readme.md",
        {
            "scope": flt.describe(),
            "generated_at": timezone.localtime(moment),
            "user": request.user.get_username(),
        },
    )
    scope = f"incident-{flt.incident.pk}" if flt.incident else "window"
    name = f"evidence-{scope}-{_stamp()}.zip"
    return _download(
        stream_bundle(flt, user=request.user, readme=readme, moment=moment),
        "application/zip",
        name,
    )
