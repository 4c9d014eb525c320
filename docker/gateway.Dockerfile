# The gateway alone: FastAPI + tritonclient, no torch (its own short requirements), so the image stays slim.
# Built by docker-compose.yml (context: the repository root).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY gateway/requirements.lock /app/gateway/requirements.lock
RUN pip install --no-deps -r /app/gateway/requirements.lock && pip check
COPY gateway/ /app/gateway/

# Not root: the gateway needs no privilege (it fetches URLs for users).
RUN useradd --system --uid 10001 gateway
USER gateway

ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthcheck', timeout=2)"]
CMD ["python", "-m", "gateway"]
