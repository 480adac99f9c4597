"""The tutor's names in JupyterHub: its service and the scopes that reach it.

Kept apart from the hub configuration so the gateway can check them without importing the
hub-side configuration code (it sits below it in the layering).
"""

from __future__ import annotations

SERVICE_NAME = "tutor"
SERVICE_PREFIX = f"/services/{SERVICE_NAME}/"
ACCESS_SCOPE = f"access:services!service={SERVICE_NAME}"
