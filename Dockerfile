# syntax=docker/dockerfile:1
# CrisisDesk application image: one image for `crisisdesk api`, `crisisdesk worker` and
# `crisisdesk migrate` (see docker-compose.yml). Runtime dependencies only: no test/dev extras.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: install the project and its dependencies into a virtualenv -----------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only what `pip install .` needs (pyproject.toml: setuptools, packages api, activities, domain,
# infra, workflows, migrations and the module worker.py; README.md is the package readme).
COPY pyproject.toml README.md ./
COPY worker.py ./
COPY api ./api
COPY activities ./activities
COPY domain ./domain
COPY infra ./infra
COPY workflows ./workflows
COPY migrations ./migrations
RUN pip install . \
 && pip check

# ---- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRISISDESK_DATA_DIR=/var/lib/crisisdesk \
    CRISISDESK_API_HOST=0.0.0.0 \
    CRISISDESK_API_PORT=8000

RUN groupadd --system --gid 10001 crisisdesk \
 && useradd --system --uid 10001 --gid crisisdesk --home-dir /var/lib/crisisdesk \
      --no-create-home --shell /usr/sbin/nologin crisisdesk \
 && install -d -o crisisdesk -g crisisdesk -m 0750 /var/lib/crisisdesk

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /var/lib/crisisdesk

EXPOSE 8000
CMD ["crisisdesk", "api"]
