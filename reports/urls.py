from __future__ import annotations

from django.urls import path

from reports import review_views, views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("mine/", views.my_reports, name="mine"),
    path("new/", views.report_new, name="new"),
    path("review/", review_views.review_queue, name="review"),
    path("<int:pk>/review/", review_views.review_decide, name="review_decide"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/correct/", views.report_correct, name="correct"),
    path("<int:pk>/withdraw/", views.report_withdraw, name="withdraw"),
    path("<int:pk>/acknowledge/", views.report_acknowledge, name="acknowledge"),
    path("photos/<int:pk>/", views.report_photo, name="photo"),
    path("photos/<int:pk>/display/", views.report_photo_display, name="photo_display"),
    path("photos/<int:pk>/thumb/", views.report_photo_thumb, name="photo_thumb"),
]
