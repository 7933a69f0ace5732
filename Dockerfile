FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rules ./rules
COPY fixes ./fixes
COPY bot ./bot
RUN pip install --no-cache-dir .
# `docker run IMAGE scan .` in a checkout; `docker run -p 8080:8080 IMAGE serve` for the GitHub App
WORKDIR /repo
ENTRYPOINT ["kubeguard"]
CMD ["scan", "."]
