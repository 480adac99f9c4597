# syntax=docker/dockerfile:1
#
# configurable-http-proxy, JupyterHub's proxy, as its own container on one host: the hub
# can restart without cutting the students' connections.  (On Kubernetes the Zero to
# JupyterHub chart brings its own proxy.)
#
#   docker build -f infra/docker/proxy.Dockerfile -t jupyter-tutor-proxy:5.3.0 .
FROM node:22-bookworm-slim

RUN npm install --global --no-audit --no-fund "configurable-http-proxy@5.3.0" \
 && npm cache clean --force

# the image's unprivileged `node` user
USER 1000
EXPOSE 8000 8001
# The API token comes from CONFIGPROXY_AUTH_TOKEN in the environment.
ENTRYPOINT ["configurable-http-proxy"]
CMD ["--ip=0.0.0.0", "--port=8000", "--api-ip=0.0.0.0", "--api-port=8001", \
     "--default-target=http://hub:8081", "--error-target=http://hub:8081/hub/error"]
