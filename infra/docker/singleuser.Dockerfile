# syntax=docker/dockerfile:1
#
# The students' single-user server: JupyterLab with the tutor's side panel, its server
# extension (the orchestrator) and the %tutor magics, plus a scientific Python stack.
#
# Nothing secret goes in here: a student controls this container completely.  The only
# tutor setting it receives at run time is TUTOR_GATEWAY_URL (from the hub); the API key
# and the database stay with the gateway.
#
# Build from the repository root, after building the wheel (see docs/deploy.md):
#   python -m pip wheel --no-deps --wheel-dir dist .
#   docker build -f infra/docker/singleuser.Dockerfile -t jupyter-tutor-singleuser:0.1.0 .
FROM python:3.12-slim-bookworm

ARG NB_USER=jovyan
ARG NB_UID=1000
ARG NB_GID=100

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHELL=/bin/bash \
    HOME=/home/${NB_USER} \
    MPLBACKEND=module://matplotlib_inline.backend_inline

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# tini reaps the kernels' zombies; git lets courses distribute material (nbgitpuller).
# Debian's security updates come with the pinned base image, hence no apt version pins.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini git \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid "${NB_UID}" --gid "${NB_GID}" --shell /bin/bash "${NB_USER}"

# One layer: the scientific stack, JupyterLab and JupyterHub's single-user entry point
# (same JupyterHub major version as the hub), then the tutor's wheel without the `hub`
# extra: no database driver, no model client beyond the SDK, no torch.
COPY dist/jupyter_tutor-*.whl /tmp/wheels/
RUN pip install \
      "jupyterhub==6.1.1" \
      "jupyterlab==4.6.6" \
      "ipykernel==7.4.0" \
      "ipywidgets==8.1.9" \
      "numpy==2.5.5" \
      "pandas==3.1.1" \
      "matplotlib==3.11.2" \
      "scipy==1.18.1" \
      "scikit-learn==1.9.1" \
      "seaborn==0.13.2" \
      "sympy==1.14.0" \
      "nbgitpuller==1.3.0" \
      /tmp/wheels/jupyter_tutor-*.whl \
 && rm -rf /tmp/wheels \
 && mkdir -p /etc/ipython \
 && printf '%s\n' \
      '# Every kernel loads the tutor magics: %tutor and %%tutor.' \
      'c.InteractiveShellApp.extensions = ["jupyter_tutor_magics"]' \
      > /etc/ipython/ipython_kernel_config.py

USER ${NB_UID}
WORKDIR /home/${NB_USER}
EXPOSE 8888

# The root filesystem can be mounted read-only: everything a student writes goes to the
# home volume or /tmp (a tmpfs in the shipped configs).
ENTRYPOINT ["tini", "-g", "--"]
CMD ["jupyterhub-singleuser"]
