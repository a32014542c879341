"""A bare Django view that does one INSERT: the ceiling the webhook is measured against
(``bench.ingest_bench``). Used only by the benchmark; the table is created by it."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from kurashiki_dr import views

TABLE = "bench_bare_ingest"  # created by bench.ingest_bench


@csrf_exempt  # a benchmark endpoint that only the benchmark's own server exposes
def ingest(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (body, received_at) VALUES (%s, now())",  # noqa: S608
            [request.body.decode("utf-8")],
        )
    return HttpResponse(status=200)


urlpatterns = [
    path("healthz", views.healthz),
    path("bench/ingest", ingest),
]
