# syntax=docker/dockerfile:1
#
# The hub side: JupyterHub with DockerSpawner and KubeSpawner, the idle culler, and the
# tutor gateway (`jupyter-tutor gateway`) with its database driver and the local course
# embedder.  One image, two commands: `jupyterhub …` for the hub (also usable as the Zero
# to JupyterHub chart's hub.image) and `jupyter-tutor gateway` for the gateway.
#
# Nothing secret is baked in: the API key, the database URL and the service token come
# from the environment at run time (a .env file on one host, a Kubernetes Secret).
#
# Build from the repository root, after building the wheel (see docs/deploy.md):
#   python -m pip wheel --no-deps --wheel-dir dist .
#   docker build -f infra/docker/hub.Dockerfile \
#       --build-arg TORCH_INDEX_URL=<PyTorch's CPU-only wheel index> \
#       -t jupyter-tutor-hub:0.1.0 .
FROM python:3.12-slim-bookworm

# torch is pinned to 2.13.0 and must be the CPU build: the default wheel on a package
# index may be the multi-GB CUDA one.  Pass PyTorch's CPU-only index as TORCH_INDEX_URL
# (or a mirror of it); left empty, the default index is used.
ARG TORCH_INDEX_URL=""
ARG HUB_UID=1000
ARG HUB_GID=100

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    TUTOR_DATA_DIR=/tmp/tutor

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Debian's security updates come with the pinned base image, hence no apt version pins.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid "${HUB_UID}" --gid "${HUB_GID}" --shell /bin/bash jovyan \
 && mkdir -p /srv/jupyterhub/data /srv/jupyterhub/config.d \
 && chown -R "${HUB_UID}:${HUB_GID}" /srv/jupyterhub

# torch first and alone, so nothing installed later pulls another build of it.  (hadolint
# cannot see the pin through the optional --index-url expansion.)
# hadolint ignore=DL3013
RUN pip install ${TORCH_INDEX_URL:+--index-url "${TORCH_INDEX_URL}"} "torch==2.13.0"

COPY dist/jupyter_tutor-*.whl /tmp/wheels/
# The tutor's own wheel is pinned by being the file built from this checkout.
# hadolint ignore=DL3013
RUN wheels=(/tmp/wheels/jupyter_tutor-*.whl) \
 && pip install \
      "${wheels[0]}[hub,otel]" \
      "jupyterhub==6.1.1" \
      "dockerspawner==14.0.0" \
      "jupyterhub-kubespawner==7.1.0" \
      "jupyterhub-idle-culler==2.0.0" \
      "oauthenticator==17.4.0" \
      "pycurl==7.49.0" \
      "psycopg2-binary==2.9.13" \
 && rm -rf /tmp/wheels

# The one-host configuration (DockerSpawner) and a default gateway configuration.
COPY infra/compose/jupyterhub_config.py /etc/jupyter-tutor/jupyterhub_config.py
COPY infra/gateway/tutor_gateway_config.py /etc/jupyter-tutor/tutor_gateway_config.py

USER ${HUB_UID}
WORKDIR /srv/jupyterhub
EXPOSE 8081 8080

ENTRYPOINT ["tini", "-g", "--"]
CMD ["jupyterhub", "--config", "/etc/jupyter-tutor/jupyterhub_config.py"]
