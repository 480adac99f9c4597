"""JupyterHub configuration of the local demo: `jupyter-tutor demo` runs the hub with it.

Everything comes from the environment the demo command prepares; see
``jupyter_tutor_hub.hubconfig.apply_demo_config``.
"""

from jupyter_tutor_hub.hubconfig import apply_demo_config

c = get_config()  # type: ignore[name-defined] # noqa: F821
apply_demo_config(c)
