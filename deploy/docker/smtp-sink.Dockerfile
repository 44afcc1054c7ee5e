# Local SMTP sink for docker compose: pantau-localstack's aiosmtpd server, writing every
# received mail as a file under /mail (docker-compose.yml mounts ./var/mail there).
# Build context: the repository root.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY deploy/localstack/pyproject.toml deploy/localstack/pyproject.toml
COPY deploy/localstack/src deploy/localstack/src
RUN /opt/venv/bin/pip wheel --wheel-dir /wheels ./deploy/localstack \
 && /opt/venv/bin/pip install --no-index --find-links /wheels pantau-localstack

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 pantau \
 && useradd --system --uid 10001 --gid pantau --no-create-home --shell /usr/sbin/nologin pantau \
 && mkdir /mail \
 && chown 10001:10001 /mail
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# docker-compose.yml runs it as the host user instead, so files in ./var/mail are theirs.
USER 10001:10001
EXPOSE 1025
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import smtplib; smtplib.SMTP('127.0.0.1', 1025, timeout=3).quit()"]
CMD ["python", "-m", "pantau.localstack.smtp_sink", "--host", "0.0.0.0", "--port", "1025", "--mail-dir", "/mail"]
