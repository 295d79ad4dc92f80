# syntax=docker/dockerfile:1.7
#
# rtbf images: one Dockerfile, two runtime targets.
#
#   api     the FastAPI gateway; the same image runs the light Celery worker (queues `webhooks`,
#           `maintenance`), celery beat (PII purge, re-enqueue) and the one-shot `rtbf migrate`. No torch: small, starts fast.
#   worker  the GPU Celery worker (locate -> edit -> verify -> publish): torch + `.[engine]`.
#
#   docker build --target api    -t rtbf-api .
#   docker build --target worker -t rtbf-worker .                 # CPU torch (the default)
#   docker build --target worker -t rtbf-worker:cuda \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#
# The CUDA torch wheels carry their own CUDA runtime, so the worker only needs the host's NVIDIA driver
# (NVIDIA container toolkit) and the default Python base works for GPUs too. A CUDA base image can still
# be chosen with WORKER_BASE_IMAGE (it must provide `python3` >= 3.11 with the venv module).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG WORKER_BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------
# api: the package without extras (no torch).
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS api-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The code stays in /app and is installed editable: `rtbf migrate` finds migrations/ next to the
# `service` package (service/migrate.py), which a copy into site-packages would lose.
WORKDIR /app
# README.m[d]: optional file (the glob lets the build pass while it does not exist).
COPY pyproject.toml alembic.ini README.m[d] ./
COPY rtbf ./rtbf
COPY service ./service
COPY workers ./workers
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/pip pip install -e .

FROM ${PYTHON_IMAGE} AS api
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    ALEMBIC_CONFIG=/app/alembic.ini \
    RTBF_LOG_JSON=true \
    MIGRATE_ON_START=1 API_HOST=0.0.0.0 API_PORT=8000
# A fixed, unprivileged uid: Kubernetes' runAsNonRoot can verify it and volumes can be chowned to it.
RUN groupadd --system --gid 10001 rtbf \
 && useradd --system --uid 10001 --gid rtbf --home-dir /app --shell /usr/sbin/nologin rtbf \
 && mkdir -p /app/var && chown rtbf:rtbf /app/var
WORKDIR /app
COPY --from=api-build /opt/venv /opt/venv
COPY --from=api-build /app /app
COPY --chmod=0755 deploy/docker/entrypoint-api.sh /usr/local/bin/rtbf-api-entrypoint
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('API_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["rtbf-api-entrypoint"]

# ---------------------------------------------------------------------------------------------------
# worker: torch first (the build for this hardware), then `.[engine]` constrained to that torch.
# ---------------------------------------------------------------------------------------------------
FROM ${WORKER_BASE_IMAGE} AS worker-build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch before the package: `.[engine]` asks only for torch>=2.3, which would otherwise pull the default
# (CUDA, several GB) wheel from PyPI. The constraint keeps the resolver from replacing this build later.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}" \
 && echo "torch==${TORCH_VERSION}" > /opt/torch-constraint.txt
WORKDIR /app
COPY pyproject.toml alembic.ini README.m[d] ./
COPY rtbf ./rtbf
COPY service ./service
COPY workers ./workers
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --constraint /opt/torch-constraint.txt -e ".[engine]"

FROM ${WORKER_BASE_IMAGE} AS worker
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    ALEMBIC_CONFIG=/app/alembic.ini \
    RTBF_LOG_JSON=true \
    RTBF_WORKER_METRICS_PORT=9808 \
    RTBF_MODEL_STORE=/data/models \
    RTBF_ENGINE__CACHE_DIR=/data/cache \
    HF_HOME=/data/cache/huggingface \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN groupadd --system --gid 10001 rtbf \
 && useradd --system --uid 10001 --gid rtbf --home-dir /app --shell /usr/sbin/nologin rtbf \
 && mkdir -p /app/var /data/models /data/cache \
 && chown -R rtbf:rtbf /app/var /data
WORKDIR /app
COPY --from=worker-build /opt/venv /opt/venv
COPY --from=worker-build /app /app
USER 10001:10001
# Model versions and the covariance cache (hours to recompute) live on volumes, not in the container.
VOLUME ["/data/models", "/data/cache"]
EXPOSE 9808
# The metrics endpoint runs in its own thread, so it answers while a long edit holds the task slot:
# a liveness signal that does not kill a worker in the middle of an edit.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('RTBF_WORKER_METRICS_PORT', '9808'), timeout=4)"]
CMD ["rtbf", "worker"]
