# certlife service image (used by compose.yaml): certctl serve commands|relay|projections.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY contracts contracts
COPY services services
COPY projections projections
RUN pip install --no-cache-dir '.[service]' && useradd --create-home certlife
USER certlife
ENTRYPOINT ["certctl"]
