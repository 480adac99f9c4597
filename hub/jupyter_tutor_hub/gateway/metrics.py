"""The gateway's Prometheus metrics; the names are the contract of infra/'s dashboards."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)

REQUESTS = Counter(
    "tutor_gateway_requests_total",
    "Requests answered, by route and HTTP status.",
    ["route", "status"],
)
REQUEST_SECONDS = Histogram(
    "tutor_gateway_request_seconds",
    "Time to answer a request completely, by route.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "tutor_gateway_first_token_seconds",
    "Time from a Messages request to the first text or tool token relayed, by model.",
    ["model"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "tutor_gateway_upstream_errors_total",
    "Upstream failures, by error type.",
    ["type"],
)
TOKENS = Counter(
    "tutor_gateway_tokens_total",
    "Tokens metered, by model and kind.",
    ["model", "kind"],
)
COST_USD = Counter("tutor_gateway_cost_usd_total", "Cost metered in USD, by model.", ["model"])
BUDGET_REJECTIONS = Counter(
    "tutor_gateway_budget_rejections_total",
    "Requests refused by a limit, by reason (daily_tokens, daily_usd, course_daily_tokens,"
    " course_daily_usd, rate, open_streams).",
    ["reason"],
)
TOOL_USES = Counter(
    "tutor_gateway_tool_uses_total",
    "Tool calls the model made, by tool name.",
    ["tool"],
)
TOOL_RESULTS = Counter(
    "tutor_gateway_tool_results_total",
    "Tool results reported back to the model, by tool and outcome (is_error true/false).",
    ["tool", "is_error"],
)
ANSWERS = Counter(
    "tutor_gateway_answers_total",
    "Answers started, by the upstream (its configured name) and the model that gave them.",
    ["upstream", "model"],
)
FAILOVERS = Counter(
    "tutor_gateway_failovers_total",
    "Requests sent to a fallback model because their model's upstream was down.",
    ["upstream", "model"],
)
OPEN_STREAMS = Gauge("tutor_gateway_open_streams", "Answers being streamed right now.")
RETRIEVAL_SECONDS = Histogram(
    "tutor_gateway_retrieval_seconds",
    "Time to retrieve course passages for a request.",
    buckets=_LATENCY_BUCKETS,
)
TURNS = Counter(
    "tutor_gateway_turns_total",
    "Assistant turns stored, by final status.",
    ["status"],
)
GUARD_WITHHELD = Counter(
    "tutor_gateway_guard_withheld_total",
    "Answers (or tool calls) the output guard cut because they reproduced a protected "
    "solution, by course and exercise.",
    ["course", "exercise"],
)
QUESTION_EMBEDDINGS = Counter(
    "tutor_gateway_question_embeddings_total",
    "Questions embedded for retrieval, by source: the model (embedded) or the cache (cached).",
    ["source"],
)
EMBEDDING_BATCH_SIZE = Histogram(
    "tutor_gateway_embedding_batch_size",
    "Questions embedded together in one model call.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
HUB_TOKEN_LOOKUPS = Counter(
    "tutor_gateway_hub_token_lookups_total",
    "Callers' tokens identified, by source: the hub (asked) or the gateway's cache (cached).",
    ["source"],
)
