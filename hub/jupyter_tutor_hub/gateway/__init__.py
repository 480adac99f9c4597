"""The tutor gateway: a JupyterHub service that speaks the Anthropic Messages API.

It is the only holder of the API key and the database; it authenticates every caller
with JupyterHub, enforces budgets and rate limits, puts the course's rules and passages in
front of every request, relays the answer as it streams and stores every turn.
"""
