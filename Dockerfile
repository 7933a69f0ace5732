FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rules ./rules
COPY fixes ./fixes
COPY bot ./bot
RUN pip install --no-cache-dir .
WORKDIR /repo
ENTRYPOINT ["kubeguard"]
CMD ["scan", "."]
