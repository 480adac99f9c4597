"""The instructors' dashboard at ``/services/tutor/dashboard/``.

A page rendered on the hub side, signed in through JupyterHub OAuth: per notebook and cell
what students ask and which errors they meet, who may need help, tokens and cost, how
many students use the tutor, and how helpful they find it.  Charts are inline SVG made on
the server (nothing is loaded from elsewhere), and every table exports as CSV.
"""
