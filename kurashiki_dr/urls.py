from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kurashiki_dr import views

# The docs page loads Swagger UI's script as a file (the split view, no inline script); its
# template keeps a small <style> block, so this page alone may use inline styles.
api_docs = csp_update({"style-src": [UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("help/", views.help_index, name="help"),
    path("help/operator/", views.help_operator, name="help_operator"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("reports/", include("reports.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("notices/", include("notices.urls")),
    path("audit/", include("audit.urls")),
    path("lineworks/", include("lineworks.urls")),
    path("api/v1/", include("kurashiki_dr.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
]

handler404 = "kurashiki_dr.views.page_not_found"

if settings.DEBUG:
    # Photos in development only; production serves media behind the login-checked view.
    urlpatterns += [path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT})]
