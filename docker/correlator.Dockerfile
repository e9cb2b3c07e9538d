# The skypewatch correlator, as an unprivileged user.
# Build from the repository root:  docker build -f docker/correlator.Dockerfile .
# PYTHON_IMAGE names another Python 3.11+ image with pip, for where the official one cannot be
# pulled (docker/local/make-bases.sh makes one from Debian's Python).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# Build stage: the package and its dependencies (websockets; numpy, for analyze's bulk engine)
# in a virtual environment.
FROM ${PYTHON_IMAGE} AS build
COPY python/ /src/python/
# The host's pip configuration (index, CA bundle) may arrive as build secrets; they are
# mounted for this step only and never enter a layer.
RUN --mount=type=secret,id=pipconf --mount=type=secret,id=pipca \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi \
    && python -m venv /opt/skypewatch \
    && /opt/skypewatch/bin/pip install --no-cache-dir /src/python \
    && /opt/skypewatch/bin/pip uninstall -y -q pip \
    && /opt/skypewatch/bin/skypewatch --help >/dev/null

# Final stage: the environment only (no sources, no pip, no build tools).
FROM ${PYTHON_IMAGE}
COPY --from=build /opt/skypewatch /opt/skypewatch
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin skypewatch
COPY docker/correlator-entrypoint.sh /usr/local/bin/correlator-entrypoint.sh
ENV PATH=/opt/skypewatch/bin:$PATH
USER 10001
WORKDIR /logs
ENTRYPOINT ["/usr/local/bin/correlator-entrypoint.sh"]
