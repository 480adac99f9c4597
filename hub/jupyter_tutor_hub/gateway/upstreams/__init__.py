"""Upstreams other than Anthropic's, and the translation they need (see ``upstream.py``)."""
