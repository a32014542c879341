"""Login with throttling: repeated failures for one username or from one address are refused
for a while, so a password cannot be guessed through the login form."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _


def _keys(request: HttpRequest) -> list[str]:
    username = (request.POST.get("username") or "").strip().lower()
    address = request.META.get("REMOTE_ADDR", "")
    return [
        "login-fail:user:" + hashlib.sha256(username.encode()).hexdigest()[:32],
        "login-fail:addr:" + hashlib.sha256(address.encode()).hexdigest()[:32],
    ]


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        keys = _keys(request)
        if any((cache.get(key) or 0) >= settings.LOGIN_MAX_FAILURES for key in keys):
            form = self.get_form()
            form.add_error(
                None,
                _("ログインの失敗が続いたため、しばらく受け付けません。%(m)d分後にお試しください。")
                % {"m": settings.LOGIN_LOCKOUT_SECONDS // 60},
            )
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form was redisplayed: wrong credentials
            for key in keys:
                cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, settings.LOGIN_LOCKOUT_SECONDS)
        else:
            cache.delete(keys[0])
        return response
