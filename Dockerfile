FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rules ./rules
COPY fixes ./fixes
COPY bot ./bot
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin kubeguard
# Runs as a non-root user and writes nothing outside the queue volume, so it works with a read-only root
# filesystem: `docker run IMAGE scan .` in a checkout, `kubeguard serve` for the GitHub App (deploy/).
ENV PYTHONDONTWRITEBYTECODE=1 KUBEGUARD_QUEUE_PATH=/data/kubeguard-queue.sqlite3
USER 10001:10001
WORKDIR /repo
ENTRYPOINT ["kubeguard"]
CMD ["scan", "."]
