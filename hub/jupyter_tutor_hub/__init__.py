"""The hub side of Jupyter Tutor: everything that must stay out of the student's reach.

The gateway service (holding the Anthropic key), the database, course retrieval,
policies, budgets and the JupyterHub configurations that wire them in.
"""
