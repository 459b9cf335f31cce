FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY streams streams
COPY projections projections
COPY triggers triggers
COPY engine engine
COPY api api
RUN pip install --no-cache-dir .
USER nobody
WORKDIR /tmp
CMD ["benefits", "worker"]
