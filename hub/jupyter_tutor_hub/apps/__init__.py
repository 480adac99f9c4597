"""Command-line applications of the hub side (``jupyter-tutor demo|gateway|db``)."""
