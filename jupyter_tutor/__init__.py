"""Jupyter Tutor: an AI tutor for programming courses, in Jupyter, on JupyterHub.

This package holds what both sides of the trust boundary share (paths, the wire formats
of errors and events, the command line).  The hub side lives in ``jupyter_tutor_hub``,
the student's server in ``jupyter_tutor_server`` and the kernel magics in
``jupyter_tutor_magics``; none of them imports the others' secrets.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jupyter-tutor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
