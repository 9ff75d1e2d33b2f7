# syntax=docker/dockerfile:1
# Muse in a container: CPU by default, CUDA with `--build-arg VARIANT=cuda`.
#
#   docker build -t muse:cpu .
#   docker build --build-arg VARIANT=cuda -t muse:cuda .
#   docker run --rm -v muse-data:/data -v muse-cache:/cache -e DISCORD_TOKEN muse:cpu
#
# Installs exactly what `make` installs: torch first, outside the lock (requirements/torch.txt,
# from PyTorch's CPU or CUDA wheel index), then requirements/run.lock with hashes and no
# resolving, then Muse itself. The CUDA wheels bring their own CUDA libraries: the host needs
# only the NVIDIA driver and the container toolkit (compose.yaml reserves the GPU).
# No secret is baked in: tokens come from the environment or from files (Docker secrets, see
# compose.yaml and README "Running it in a container").

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG VARIANT=cpu

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv && pip install --no-cache-dir "pip==26.3"
WORKDIR /src
COPY requirements/torch.txt requirements/torch.txt

FROM base AS torch-cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" -r requirements/torch.txt

FROM base AS torch-cuda
# The PyTorch index that publishes the pinned torch for your CUDA driver (cu126, cu128, ...).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" -r requirements/torch.txt

# torch-cpu or torch-cuda: a stage of this file, not an image to pin (DL3006).
# hadolint ignore=DL3006
FROM torch-${VARIANT} AS muse
WORKDIR /src
COPY requirements/run.lock requirements/run.lock
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements/run.lock
COPY pyproject.toml README.md ./
COPY core core
COPY adapters adapters
COPY bot bot
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && rm -rf /src

# A user of its own; the database (/data) and the model cache (/cache) are volumes it owns.
RUN groupadd --system --gid 10001 muse \
    && useradd --system --uid 10001 --gid muse --home-dir /data --shell /usr/sbin/nologin muse \
    && mkdir -p /data /cache \
    && chown muse:muse /data /cache
ENV HF_HOME=/cache/huggingface \
    MUSE_CACHE_DIR=/cache/muse
WORKDIR /data
VOLUME ["/data", "/cache"]
USER 10001:10001

# /metrics, /livez, /readyz (the CMD turns the endpoint on; publish it to 127.0.0.1 only).
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/livez', timeout=4)"]
# SIGTERM (docker stop) drains within Muse's 6 s + 1.5 s, inside docker stop's 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["muse"]
CMD ["run", "--metrics-listen", "0.0.0.0:9464"]
