# 倉敷市 災害情報ポータル: one image for web (gunicorn), the Celery worker and Celery beat.
# Debian 12 (bookworm), as CI. No system packages beyond the base image are needed.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KDR_VAR_DIR=/app/var \
    DJANGO_SETTINGS_MODULE=kurashiki_dr.settings
# The production settings, for every process of the image (manage.py included): they refuse
# to start without a secret key, allowed hosts and PostgreSQL.

RUN groupadd --system --gid 10001 kdr \
    && useradd --system --uid 10001 --gid kdr --home-dir /app --shell /usr/sbin/nologin kdr

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays owned by root: the app user can write only its var/ directory (media).
COPY . .

# collectstatic imports the production settings, which refuse to load without a secret key,
# allowed hosts and PostgreSQL: give it throwaway values that exist only in this build step
# (nothing connects to the database here).
RUN DJANGO_DEBUG=0 \
    DJANGO_SECRET_KEY=collectstatic-build-only \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build:build@localhost:5432/build \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var/media \
    && chown -R kdr:kdr /app/var

USER kdr
EXPOSE 8000

CMD ["gunicorn", "kurashiki_dr.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--workers", "3", "--worker-class", "sync", "--timeout", "60", \
     "--access-logfile", "-", "--error-logfile", "-"]
