# Zeek with the skypewatch package installed from this working tree by zkg.
# Build from the repository root:  docker build -f docker/zeek.Dockerfile .
# ZEEK_IMAGE names another image with Zeek and zkg, for where zeek/zeek cannot be pulled
# (docker/local/make-bases.sh makes one from the host's Zeek).
ARG ZEEK_VERSION=8.0.10
ARG ZEEK_IMAGE=zeek/zeek
FROM ${ZEEK_IMAGE}:${ZEEK_VERSION}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# zkg installs from git: snapshot the package files into a throwaway local repository.
COPY zkg.meta README.md /src/skypewatch/
COPY zeek/ /src/skypewatch/zeek/
COPY testing/btest/ /src/skypewatch/testing/btest/
WORKDIR /src/skypewatch
# hadolint ignore=SC2016
RUN rm -rf testing/btest/.tmp testing/btest/.btest.failed.dat \
    && git init -q \
    && git -c user.email=build@skypewatch.invalid -c user.name=build add -A \
    && git -c user.email=build@skypewatch.invalid -c user.name=build commit -q -m snapshot \
    && zkg install --force --skiptests /src/skypewatch \
    && zeek -N >/dev/null \
    && test "$(zeek -e 'event zeek_init() { print Log::active_streams[Skype::LOG]$path; }' skypewatch)" = skype

COPY docker/zeek-entrypoint.sh docker/wait-for-client.zeek /usr/local/share/skypewatch/
WORKDIR /logs
ENTRYPOINT ["/usr/local/share/skypewatch/zeek-entrypoint.sh"]
