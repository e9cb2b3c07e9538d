# A stand-in for the official zeek/zeek image, where no registry can be reached: the Zeek
# installation of the build machine (a tarball of `zeek-config --prefix`, made by
# docker/local/make-bases.sh, which is also the build context) on Debian with the libraries
# it links, and zkg (with btest) from the package index.  Zeek keeps its prefix, which its
# binaries have compiled in.
ARG DEBIAN_IMAGE=localhost/skypewatch-debian:bookworm
ARG ZEEK_PREFIX=/opt/zeek

FROM ${DEBIAN_IMAGE} AS zkg
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
# The host's pip configuration arrives as build secrets (never as a file in an image layer).
RUN --mount=type=secret,id=pipconf --mount=type=secret,id=pipca \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi \
    && python3 -m venv /opt/zkg \
    && /opt/zkg/bin/pip install --no-cache-dir zkg

FROM ${DEBIAN_IMAGE}
ARG ZEEK_PREFIX
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Zeek's run-time libraries (those `ldd zeek` lists outside its prefix), git and Python for zkg.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpcap0.8 libssl3 libmaxminddb0 libkrb5-3 libzmq5 zlib1g python3 git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=zkg /opt/zkg /opt/zkg
ADD zeek.tar ${ZEEK_PREFIX}
ENV PATH=/opt/zkg/bin:${ZEEK_PREFIX}/bin:$PATH
RUN zkg autoconfig --force >/dev/null \
    && zeek --version \
    && ! ldd "$(command -v zeek)" | grep 'not found'
CMD ["zeek", "--version"]
