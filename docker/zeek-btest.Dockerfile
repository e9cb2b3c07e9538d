# The btest suite's whole environment inside the Zeek image: the Python toolkit where
# testing/btest/btest.cfg looks for it (/src/skypewatch/.venv), for the tests that hold Zeek to
# the Python engine or run the correlator against Zeek.  `make docker-test` builds it to run
# the suite; it is not an image to deploy.
ARG ZEEK_TAG=skypewatch-zeek:8.0.10
FROM ${ZEEK_TAG}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv procps \
    && rm -rf /var/lib/apt/lists/*
COPY python/ /src/python/
RUN --mount=type=secret,id=pipconf --mount=type=secret,id=pipca \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi \
    && python3 -m venv /src/skypewatch/.venv \
    && /src/skypewatch/.venv/bin/pip install --no-cache-dir /src/python
# As `make btest` does: the helper scripts' `python3` is the one with skypewatch.
ENV PATH=/src/skypewatch/.venv/bin:$PATH
WORKDIR /src/skypewatch/testing/btest
ENTRYPOINT []
CMD ["btest", "-c", "btest.cfg", "-j", "2", "-d"]
