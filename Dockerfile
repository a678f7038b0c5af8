# syntax=docker/dockerfile:1
# Multi-stage: build wheels with the compilers, run on a slim image as a non-root user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY config ./config
COPY core ./core
COPY subscribers ./subscribers
COPY channels_app ./channels_app
COPY publishing ./publishing
COPY analytics ./analytics
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    STATIC_ROOT=/app/staticfiles \
    BULLETIN_VAR_DIR=/app/var
RUN groupadd --system bulletin && useradd --system --gid bulletin --home-dir /app --shell /usr/sbin/nologin bulletin
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=bulletin:bulletin . /app
# collectstatic and compile_translations need settings, not secrets: throwaway values for this
# build step only. Translations compile with Babel (pure Python), no system gettext.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
    && SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py compile_translations --force \
    && mkdir -p /app/var && chown -R bulletin:bulletin /app/var /app/staticfiles
USER bulletin
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
