# One image for every service; Cloud Run picks the entry point with FUNCTION_TARGET,
# FUNCTION_SOURCE and FUNCTION_SIGNATURE_TYPE (see terraform/run.tf; cloudevent by default:
# the step handlers carry no decorator; api registers itself as http).
#
# Reproducible: the base image is pinned by digest (python:3.11-slim, Python 3.11.16 on
# Debian trixie, as published on 2026-08-25; refresh it as docs/deploy.md says) and every
# dependency by version and hash in requirements.lock (written by `nox -s lock`; CI fails when
# it drifts from pyproject.toml).
FROM python:3.11-slim@sha256:00f89b7f96f13d42900483da3253f8fb2e763eed7a0aa5f0358fec9d15d9f10c

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PORT=8080 \
    CONVERGENCE_MODE=cloud CONVERGENCE_CONFIG_DIR=/app/configs FUNCTION_SIGNATURE_TYPE=cloudevent
WORKDIR /app

# Dependencies first (a layer that changes only with the lock): wheels only, each hash checked.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements.lock

# Our package, without dependencies (all installed above) and built with the base image's
# pinned setuptools, so nothing unpinned is downloaded.
COPY pyproject.toml README.md ./
COPY events ./events
COPY lib ./lib
COPY handlers ./handlers
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

COPY configs ./configs
# The commit the image was built from: runs record it as their code and config version
# (lib/provenance.py); cloudbuild.yaml passes the trigger's SHORT_SHA.
ARG BUILD_COMMIT=""
ENV CONVERGENCE_BUILD_COMMIT=${BUILD_COMMIT}
USER 65532:65532
# Cloud Run ignores HEALTHCHECK; its startup and liveness probes are in terraform/run.tf.
HEALTHCHECK NONE
CMD ["sh", "-c", "exec functions-framework --port=${PORT}"]
