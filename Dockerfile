# syntax=docker/dockerfile:1
# Multi-stage: build Bulletin's wheel (and its dependencies' wheels) with the compilers, then
# install only wheels on a slim image and run as a non-root user. The image holds no source
# tree: templates, static files and translations ship inside the wheel (see setup.py).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY config ./config
COPY core ./core
COPY subscribers ./subscribers
COPY channels_app ./channels_app
COPY publishing ./publishing
COPY analytics ./analytics
COPY templates ./templates
COPY static ./static
COPY locale ./locale
# Building the wheel compiles the translations into it (setup.py, with Babel).
RUN pip install --upgrade pip && pip wheel --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    STATIC_ROOT=/app/staticfiles \
    BULLETIN_VAR_DIR=/app/var
RUN groupadd --system bulletin && useradd --system --gid bulletin --home-dir /app --shell /usr/sbin/nologin bulletin
WORKDIR /app
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels bulletin
# collectstatic needs settings, not secrets: throwaway values for this build step only.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost FIELD_ENCRYPTION_KEY=qCj3rSvbHD6WJ2lQ3vTCHrk4ksx2cVcRtkBZCUX6hKc= \
    django-admin collectstatic --noinput \
    && mkdir -p /app/var && chown -R bulletin:bulletin /app/var /app/staticfiles
USER bulletin
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
