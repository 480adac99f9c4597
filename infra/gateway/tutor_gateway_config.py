"""Settings of the tutor gateway for one course deployment ($TUTOR_GATEWAY_CONFIG).

Shipped in the hub image as /etc/jupyter-tutor/tutor_gateway_config.py; on Kubernetes the
same file is mounted from the `tutor-gateway-config` ConfigMap.  `jupyter-tutor gateway
--help-all` lists every setting.  Secrets never go here: the API key and the database URL
come from the environment.
"""

c = get_config()  # type: ignore[name-defined] # noqa: F821

# Budgets per student and UTC day, and a request rate; over a limit the student gets a
# clear "come back at …" instead of an answer.  0 means no limit.
c.Metering.daily_token_budget = 200_000
c.Metering.daily_usd_budget = 0.50
c.Metering.requests_per_minute = 10

# Which models the orchestrator may ask for; short plain questions go to the cheaper one.
c.ModelPolicy.allowed_models = ["claude-sonnet-4-6", "claude-haiku-4-5"]
c.ModelPolicy.simple_model = "claude-haiku-4-5"

# Course passages added to every question.
c.TutorGateway.passages = 4

# Upstream failures before the circuit breaker answers "unavailable" at once.
c.Upstream.breaker_threshold = 5

# Connections per gateway process; replicas x pool_max_size must stay below the
# database's max_connections (100 by default) with room for backups and admins.
c.Database.pool_max_size = 10
