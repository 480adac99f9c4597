"""JupyterHub configuration fragment for production deployments.

Load it from your own jupyterhub_config.py (or the Zero to JupyterHub chart's
``hub.extraConfig``) after choosing the spawner and authenticator; it registers the tutor
gateway as an external service and grants the roles and scopes the tutor needs.
"""

from jupyter_tutor_hub.hubconfig import apply_production_config

c = get_config()  # type: ignore[name-defined] # noqa: F821
apply_production_config(c)
