"""Where the tutor keeps its files: one data directory, overridable by ``TUTOR_DATA_DIR``.

Every path the product writes is derived from here and injected through traitlets, so
tests point the whole product at a temporary folder with one environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir

DATA_DIR_ENV = "TUTOR_DATA_DIR"


def default_data_dir() -> Path:
    """``$TUTOR_DATA_DIR`` if set, else ``tutor/`` under the Jupyter data directory."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(jupyter_data_dir()) / "tutor"
