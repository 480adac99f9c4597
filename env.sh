# source this: the worktree's venv first, then main's tools (jupyterhub's proxy, ruff...)
export PATH=/work/wt/retrieval/.venv/bin:/work/main/.venv/bin:/work/main/node_modules/.bin:$PATH
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
export VIRTUAL_ENV=/work/wt/retrieval/.venv
