# Zeek with the skypewatch package installed from this working tree by zkg.
# Build from the repository root:  docker build -f docker/zeek.Dockerfile .
ARG ZEEK_VERSION=8.0.10
FROM zeek/zeek:${ZEEK_VERSION}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# zkg installs from git: snapshot the package files into a throwaway local repository.
COPY zkg.meta README.md /src/skypewatch/
COPY zeek/ /src/skypewatch/zeek/
COPY testing/btest/ /src/skypewatch/testing/btest/
WORKDIR /src/skypewatch
RUN git init -q \
    && git -c user.email=build@skypewatch.invalid -c user.name=build add -A \
    && git -c user.email=build@skypewatch.invalid -c user.name=build commit -q -m snapshot \
    && zkg install --force --skiptests /src/skypewatch \
    && zeek -N >/dev/null

COPY docker/zeek-entrypoint.sh docker/wait-for-client.zeek /usr/local/share/skypewatch/
WORKDIR /logs
ENTRYPOINT ["/usr/local/share/skypewatch/zeek-entrypoint.sh"]
