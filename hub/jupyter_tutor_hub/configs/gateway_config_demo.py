"""The gateway's settings in the local demo, unless ``$TUTOR_GATEWAY_CONFIG`` names others.

Non-zero limits, so that one student of the demo (or a script) cannot spend the key's
money or starve the others: a daily budget per student, a rate limit, and at most three
questions of one student answered at once (``Metering.max_open_streams``, the default).
"""

c = get_config()  # type: ignore[name-defined] # noqa: F821
c.Metering.daily_token_budget = 200_000
c.Metering.daily_usd_budget = 0.50
c.Metering.requests_per_minute = 10
c.Metering.max_open_streams = 3
