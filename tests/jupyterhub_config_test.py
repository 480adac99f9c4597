"""JupyterHub config of the integration tests: the demo's, plus an admin service.

The admin service's token (``TUTOR_TEST_ADMIN_TOKEN``) lets the tests create users'
tokens and start their servers through the REST API, as an operator's script would.
"""

import os

from jupyter_tutor_hub.hubconfig import apply_demo_config

c = get_config()  # type: ignore[name-defined] # noqa: F821
apply_demo_config(c)
for service in c.JupyterHub.services:
    # A loaded test machine can take more than JupyterHub's 30 s to start the gateway
    # (imports, the embedding model); the hub would exit instead of waiting.
    service.setdefault("timeout", 120)
c.JupyterHub.services.append(
    {"name": "test-admin", "api_token": os.environ["TUTOR_TEST_ADMIN_TOKEN"]}
)
c.JupyterHub.load_roles.append(
    {
        "name": "test-admin",
        "services": ["test-admin"],
        "scopes": [
            "admin:users",
            "admin:servers",
            "tokens",
            "admin:server_state",
            "read:users",
            "list:users",
            "admin:groups",
        ],
    }
)
c.JupyterHub.log_level = "DEBUG" if os.environ.get("TUTOR_TEST_DEBUG") else "INFO"
# A test module's own additions (another authenticator, for LTI launches).
if os.environ.get("TUTOR_TEST_HUB_CONFIG"):
    load_subconfig(os.environ["TUTOR_TEST_HUB_CONFIG"])  # type: ignore[name-defined] # noqa: F821
