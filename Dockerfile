# Production image: gunicorn serving wsgi:app on port 8000.
# Needs SECRET_KEY and DATABASE_URL at run time; run
# `flask --app wsgi db upgrade` as a release step before starting it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# python-magic identifies uploaded files with libmagic; `flask backup` and
# `flask restore` use pg_dump and pg_restore (Debian 12's client is 15).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 postgresql-client \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin portal

WORKDIR /srv/portal
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays owned by root, so the app cannot change itself.
COPY . .

# Local documents (STORAGE_BACKEND=local) go here; mount a volume on it.
ENV PORTAL_ENV=production \
    PORTAL_INSTANCE_DIR=/var/lib/portal \
    WEB_CONCURRENCY=3
RUN mkdir -p /var/lib/portal/documents && chown -R portal:portal /var/lib/portal
VOLUME ["/var/lib/portal"]

USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "wsgi:app"]
