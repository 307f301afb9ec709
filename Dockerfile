# One image for every restosync process: `restosync serve` (default), `restosync migrate`,
# and `procrastinate --app=restosync.worker.app worker ...` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Only what the package build needs (README.md is the package's readme); the migrations
# in sql/ ship inside the package as `restosync.sql`.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY restosync ./restosync
COPY sql ./sql
RUN pip install . \
    && rm -rf /src \
    && useradd --system --create-home --uid 10001 restosync

WORKDIR /home/restosync
USER restosync

# Inside a container the web process must listen on every interface.
ENV HOST=0.0.0.0 \
    PORT=8080
EXPOSE 8080

CMD ["restosync", "serve"]
