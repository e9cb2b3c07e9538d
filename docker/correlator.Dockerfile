# The skypewatch correlator, as an unprivileged user.
# Build from the repository root:  docker build -f docker/correlator.Dockerfile .
FROM python:3.11.11-slim-bookworm

COPY python/ /src/python/
RUN pip install --no-cache-dir /src/python \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin skypewatch \
    && mkdir -p /logs && chown skypewatch /logs

COPY docker/correlator-entrypoint.sh /usr/local/bin/correlator-entrypoint.sh
USER 10001
WORKDIR /logs
ENTRYPOINT ["/usr/local/bin/correlator-entrypoint.sh"]
