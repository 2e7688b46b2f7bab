# Shirube: one image for web (gunicorn), Celery worker and Celery beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SHIRUBE_VAR_DIR=/app/var

WORKDIR /app
# git and ssh for the GitOps writer (deploys commit to the GitOps repository).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app shirube

COPY requirements.txt .
RUN pip install -r requirements.txt

# The whole context less .dockerignore: no kubesim, tests or benchmarks (tests/kubesim/test_image.py).
COPY --chown=shirube:shirube . .
# collectstatic needs a key but no database; this one is thrown away with the layer.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v 0 \
    && mkdir -p /app/var && chown shirube:shirube /app/var

USER shirube
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
