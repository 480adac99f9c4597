"""JupyterHub configuration files shipped with the tutor (see ``config_path``)."""

from pathlib import Path


def config_path(variant: str) -> Path:
    """Path of the shipped ``jupyterhub_config_<variant>.py`` (``demo`` or ``production``)."""
    return Path(__file__).with_name(f"jupyterhub_config_{variant}.py")
