"""The gateway's Tornado handlers, one module per resource."""
