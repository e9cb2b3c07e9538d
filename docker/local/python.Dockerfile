# A stand-in for the official slim Python image, where no registry can be reached: Debian's
# Python 3.11 in a virtual environment first on PATH, so that `python` and `pip install` work
# as they do in python:3.11-slim-bookworm.  Made by docker/local/make-bases.sh.
ARG DEBIAN_IMAGE=localhost/skypewatch-debian:bookworm
FROM ${DEBIAN_IMAGE}

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /usr/local/python
ENV PATH=/usr/local/python/bin:$PATH
CMD ["python3"]
