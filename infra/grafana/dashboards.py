"""Build the tutor's Grafana dashboards (dashboards/*.json) from this one description.

    python infra/grafana/dashboards.py          # rewrite the JSON files
    python infra/grafana/dashboards.py --check  # exit 1 if a JSON file is out of date

Edit the panels here, never the JSON by hand: the tests check that the files match this
script, that every PromQL expression uses metrics the gateway (or JupyterHub, or the alert
rules) really export, and that every SQL query runs against the tutor's schema.

Panels use two data sources, chosen by dashboard variables: `datasource` (Prometheus)
and `tutor_db` (PostgreSQL, a read-only role: docs/deploy.md).  SQL panels only count;
they never read what students wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("dashboards")
PROM = {"type": "prometheus", "uid": "${datasource}"}
SQL = {"type": "grafana-postgresql-datasource", "uid": "${tutor_db}"}
LINK_TAG = "jupyter-tutor"

RATE = "$__rate_interval"
ANSWERED = 'route!~"health|metrics"'
QUESTIONS = 'tutor_gateway_requests_total{route="messages", status=~"2.."}'
GATEWAY = 'job="tutor-gateway"'


def prom(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict:
    target = {"datasource": PROM, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}
    if instant:
        target["instant"] = True
        target["range"] = False
    return target


def sql(query: str, fmt: str = "table", ref: str = "A") -> dict:
    return {
        "datasource": SQL,
        "editorMode": "code",
        "format": fmt,
        "rawQuery": True,
        "rawSql": " ".join(query.split()),
        "refId": ref,
    }


class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self) -> None:
        self.x = self.y = self.row_height = 0
        self.next_id = 1

    def place(self, width: int, height: int) -> dict[str, int]:
        if self.x + width > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = {"x": self.x, "y": self.y, "w": width, "h": height}
        self.x += width
        self.row_height = max(self.row_height, height)
        return pos


def panel(
    layout: Layout,
    kind: str,
    title: str,
    targets: list[dict],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    description: str = "",
    decimals: int | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
    stack: bool = False,
) -> dict:
    defaults: dict[str, Any] = {"unit": unit}
    if decimals is not None:
        defaults["decimals"] = decimals
    if thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"value": v, "color": c} for v, c in thresholds],
        }
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "fillOpacity": 20 if stack else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "stacking": {"mode": "normal" if stack else "none"},
        }
    body = {
        "id": layout.next_id,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "gridPos": layout.place(width, height),
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {},
    }
    if kind == "stat":
        body["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
        }
    elif kind == "timeseries":
        body["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif kind == "table":
        body["options"] = {"showHeader": True}
    layout.next_id += 1
    return body


def stat(layout: Layout, title: str, targets: list[dict], **options: Any) -> dict:
    """A headline number; stat panels stand in a row of height 5 at the top of a dashboard."""
    return panel(layout, "stat", title, targets, height=5, **options)


def series(layout: Layout, title: str, targets: list[dict], **options: Any) -> dict:
    """A graph over time."""
    return panel(layout, "timeseries", title, targets, **options)


def dashboard(uid: str, title: str, description: str, panels: list[dict], sql_used: bool) -> dict:
    variables = [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        }
    ]
    if sql_used:
        variables.append(
            {
                "name": "tutor_db",
                "label": "Tutor database",
                "type": "datasource",
                "query": "grafana-postgresql-datasource",
                "current": {},
                "hide": 0,
            }
        )
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [LINK_TAG],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "",
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": [LINK_TAG],
                "asDropdown": True,
                "title": "Tutor dashboards",
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "panels": panels,
    }


def p95(metric: str, by: str = "", window: str = RATE, q: str = "0.95") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[{window}])))"


def error_ratio(window: str) -> str:
    """Share of the gateway's answers that were server errors (what the alert watches)."""
    return (
        f'sum(rate(tutor_gateway_requests_total{{{ANSWERED}, status=~"5.."}}[{window}]))'
        f" / sum(rate(tutor_gateway_requests_total{{{ANSWERED}}}[{window}]))"
    )


def answered_rate(by: str) -> str:
    """Requests per second the gateway answered (not health checks or scrapes), grouped by `by`."""
    return f"sum by ({by}) (rate(tutor_gateway_requests_total{{{ANSWERED}}}[{RATE}]))"


def replicas_up(layout: Layout, width: int) -> dict:
    """Gateway replicas Prometheus reaches: red with none, orange with one (no spare)."""
    return stat(
        layout,
        "Gateway replicas up",
        [prom(f"sum(up{{{GATEWAY}}})")],
        width=width,
        decimals=0,
        thresholds=[(None, "red"), (1, "orange"), (2, "green")],
    )


def upstream_errors(layout: Layout, description: str = "") -> dict:
    """Failures of the model API per second, stacked by type."""
    return series(
        layout,
        "Upstream errors by type",
        [prom(f"sum by (type) (rate(tutor_gateway_upstream_errors_total[{RATE}]))", "{{type}}")],
        unit="ops",
        stack=True,
        description=description,
    )


def overview() -> dict:
    lay = Layout()
    panels = [
        stat(
            lay,
            "Questions answered (24 h)",
            [
                prom(
                    f"sum(increase({QUESTIONS}[24h]))",
                    instant=True,
                )
            ],
            width=4,
            decimals=0,
        ),
        stat(
            lay,
            "Answers streaming now",
            [prom("sum(tutor_gateway_open_streams)")],
            width=4,
        ),
        stat(
            lay,
            "Time to first token, p95 (1 h)",
            [prom(p95("tutor_gateway_first_token_seconds", window="1h"), instant=True)],
            unit="s",
            width=4,
            decimals=1,
            thresholds=[(None, "green"), (3, "orange"), (5, "red")],
        ),
        stat(
            lay,
            "Server errors (1 h)",
            [prom(error_ratio("1h"), instant=True)],
            unit="percentunit",
            width=4,
            decimals=1,
            thresholds=[(None, "green"), (0.02, "orange"), (0.05, "red")],
        ),
        stat(
            lay,
            "Cost (24 h)",
            [prom("sum(increase(tutor_gateway_cost_usd_total[24h]))", instant=True)],
            unit="currencyUSD",
            width=4,
            decimals=2,
        ),
        replicas_up(lay, width=4),
        series(
            lay,
            "Requests by route and status",
            [prom(answered_rate("route, status"), "{{route}} {{status}}")],
            unit="reqps",
            description="Every gateway request; 429 are limits (budget, rate), 5xx failures.",
        ),
        series(
            lay,
            "Answers stored, by outcome",
            [prom(f"sum by (status) (rate(tutor_gateway_turns_total[{RATE}]))", "{{status}}")],
            unit="ops",
            stack=True,
            description="complete; interrupted (stopped, client gone, stream broke); error.",
        ),
        series(
            lay,
            "Refused by a limit",
            [
                prom(
                    f"sum by (reason) (rate(tutor_gateway_budget_rejections_total[{RATE}]))",
                    "{{reason}}",
                )
            ],
            unit="reqps",
            stack=True,
            description="Daily token or USD budget of a student, or the per-minute rate.",
        ),
        upstream_errors(
            lay, "Failures of the model API; breaker_open: answered at once as unavailable."
        ),
    ]
    return dashboard(
        "tutor-overview",
        "Jupyter Tutor / Overview",
        "Is the tutor answering, how fast, how reliably, at what cost.",
        panels,
        False,
    )


def performance() -> dict:
    lay = Layout()
    quantiles = [("0.5", "p50", "A"), ("0.95", "p95", "B"), ("0.99", "p99", "C")]
    panels = [
        series(
            lay,
            "Time to first token",
            [
                prom(p95("tutor_gateway_first_token_seconds", q=q), name, ref)
                for q, name, ref in quantiles
            ],
            unit="s",
            thresholds=[(None, "green"), (5, "red")],
            description="From the request to the first text or tool token relayed."
            " Alert: p95 > 5 s.",
        ),
        series(
            lay,
            "Time to first token p95, by model",
            [prom(p95("tutor_gateway_first_token_seconds", by="model"), "{{model}}")],
            unit="s",
        ),
        series(
            lay,
            "Whole request, p95 by route",
            [prom(p95("tutor_gateway_request_seconds", by="route"), "{{route}}")],
            unit="s",
            description="Until the last byte: long streamed answers make v1/messages long.",
        ),
        series(
            lay,
            "Course retrieval",
            [
                prom(p95("tutor_gateway_retrieval_seconds", q=q), name, ref)
                for q, name, ref in quantiles[:2]
            ],
            unit="s",
            description="Embedding the question and the hybrid search in PostgreSQL.",
        ),
        series(
            lay,
            "Answers streaming at once",
            [prom("sum by (instance) (tutor_gateway_open_streams)", "{{instance}}")],
            unit="short",
            stack=True,
            description="Concurrent streams per gateway replica: the load that sizes replicas.",
        ),
        series(
            lay,
            "Server error ratio",
            [prom(error_ratio(RATE), "5xx / all")],
            unit="percentunit",
            thresholds=[(None, "green"), (0.05, "red")],
        ),
        series(
            lay,
            "Requests per second by replica",
            [prom(answered_rate("instance"), "{{instance}}")],
            unit="reqps",
            stack=True,
        ),
        series(
            lay,
            "Questions embedded from the cache",
            [
                prom(
                    f'sum(rate(tutor_gateway_question_embeddings_total{{source="cached"}}[{RATE}]))'
                    f" / sum(rate(tutor_gateway_question_embeddings_total[{RATE}]))",
                    "cached / all",
                )
            ],
            unit="percentunit",
            width=8,
            description="A class asking the same question at once is embedded once.",
        ),
        series(
            lay,
            "Questions per embedding batch",
            [
                prom(p95("tutor_gateway_embedding_batch_size", q=q), name, ref)
                for q, name, ref in quantiles[:2]
            ],
            unit="short",
            width=8,
            description="Concurrent questions embedded together in one model call.",
        ),
        series(
            lay,
            "Hub token lookups by source",
            [
                prom(
                    f"sum by (source) (rate(tutor_gateway_hub_token_lookups_total[{RATE}]))",
                    "{{source}}",
                )
            ],
            unit="reqps",
            stack=True,
            width=8,
            description="Callers identified by the hub (asked) or the gateway's token cache.",
        ),
        upstream_errors(lay),
        series(
            lay,
            "Tool runs that failed, by tool",
            [
                prom(
                    "sum by (tool) (rate(tutor_gateway_tool_results_total"
                    f'{{is_error="true"}}[{RATE}]))'
                    f" / sum by (tool) (rate(tutor_gateway_tool_results_total[{RATE}]))",
                    "{{tool}}",
                )
            ],
            unit="percentunit",
            thresholds=[(None, "green"), (0.10, "red")],
            width=24,
            description="Share of tool results reported as errors. Alert: > 10 % overall.",
        ),
    ]
    return dashboard(
        "tutor-performance",
        "Jupyter Tutor / Performance",
        "Latency of answers, retrieval and requests; load per replica.",
        panels,
        False,
    )


def costs() -> dict:
    lay = Layout()
    panels = [
        stat(
            lay,
            "Cost, last 24 h",
            [prom("tutor:cost_usd:increase24h")],
            unit="currencyUSD",
            width=6,
            decimals=2,
            description="Recorded by the alert rules (tutor-alerts.yml).",
        ),
        stat(
            lay,
            "Daily budget (alert line)",
            [prom("tutor:cost_usd:daily_budget")],
            unit="currencyUSD",
            width=6,
            decimals=0,
        ),
        stat(
            lay,
            "Cost per answer (24 h)",
            [
                prom(
                    "sum(increase(tutor_gateway_cost_usd_total[24h]))"
                    " / sum(increase(tutor_gateway_turns_total[24h]))",
                    instant=True,
                )
            ],
            unit="currencyUSD",
            width=6,
            decimals=4,
        ),
        stat(
            lay,
            "Tokens (24 h)",
            [prom("sum(increase(tutor_gateway_tokens_total[24h]))", instant=True)],
            unit="short",
            width=6,
            decimals=0,
        ),
        series(
            lay,
            "Cost per hour by model",
            [prom("sum by (model) (increase(tutor_gateway_cost_usd_total[1h]))", "{{model}}")],
            unit="currencyUSD",
            stack=True,
        ),
        series(
            lay,
            "Answers per hour by upstream and model",
            [
                prom(
                    "sum by (upstream, model) (increase(tutor_gateway_answers_total[1h]))",
                    "{{upstream}} {{model}}",
                ),
                prom(
                    "sum by (upstream, model) (increase(tutor_gateway_failovers_total[1h]))",
                    "failed over from {{upstream}} {{model}}",
                    "B",
                ),
            ],
            unit="short",
            description="Which upstream answered (costs come from each model's price); "
            "failovers: answers sent to a fallback model because the first was down.",
        ),
        series(
            lay,
            "Rolling 24 h cost against the budget",
            [
                prom("tutor:cost_usd:increase24h", "spent (24 h)", "A"),
                prom("tutor:cost_usd:daily_budget", "budget", "B"),
            ],
            unit="currencyUSD",
        ),
        series(
            lay,
            "Tokens per second by model and kind",
            [
                prom(
                    f"sum by (model, kind) (rate(tutor_gateway_tokens_total[{RATE}]))",
                    "{{model}} {{kind}}",
                )
            ],
            unit="short",
            stack=True,
            description="input, output, cache reads and writes, as metered.",
        ),
        series(
            lay,
            "Students held back by their budget",
            [
                prom(
                    f"sum by (reason) (increase(tutor_gateway_budget_rejections_total[{RATE}]))",
                    "{{reason}}",
                )
            ],
            unit="short",
            stack=True,
        ),
        panel(
            lay,
            "table",
            "Highest spenders today (UTC)",
            [
                sql("""SELECT user_name AS "student", requests, tokens, cost_usd AS "cost (USD)"
                      FROM usage_daily WHERE day = (now() AT TIME ZONE 'utc')::date
                      ORDER BY cost_usd DESC LIMIT 20""")
            ],
            width=12,
            height=9,
            description="From usage_daily: who is near their budget.",
        ),
        series(
            lay,
            "Cost per day by model (database)",
            [
                sql(
                    """SELECT date_trunc('day', created_at) AS "time", model,
                      sum(cost_usd)::float AS cost FROM usage
                      WHERE $__timeFilter(created_at) GROUP BY 1, 2 ORDER BY 1""",
                    fmt="time_series",
                )
            ],
            unit="currencyUSD",
            width=12,
            height=9,
            stack=True,
            description="Exact, from the stored usage rows, across restarts and replicas.",
        ),
    ]
    return dashboard(
        "tutor-costs",
        "Jupyter Tutor / Costs",
        "Spending by model, tokens, budgets and who uses them.",
        panels,
        True,
    )


def learning() -> dict:
    lay = Layout()
    panels = [
        stat(
            lay,
            "Students asking (period)",
            [
                sql(
                    "SELECT count(DISTINCT user_name) AS students FROM conversations"
                    " WHERE $__timeFilter(updated_at)"
                )
            ],
            width=6,
        ),
        stat(
            lay,
            "Questions (period)",
            [
                sql(
                    "SELECT count(*) AS questions FROM messages WHERE role = 'user'"
                    " AND $__timeFilter(created_at)"
                )
            ],
            width=6,
        ),
        stat(
            lay,
            "Questions per conversation",
            [
                sql("""SELECT avg(n)::float AS turns FROM (SELECT count(*) AS n FROM messages
                      WHERE role = 'user' AND $__timeFilter(created_at)
                      GROUP BY conversation_id) AS t""")
            ],
            width=6,
            decimals=1,
            description="Many turns can mean a student is stuck, or a good dialogue.",
        ),
        stat(
            lay,
            "Answers that reached the end (period)",
            [
                sql("""SELECT (count(*) FILTER (WHERE status = 'complete'))::float
                      / nullif(count(*), 0) AS complete FROM messages
                      WHERE role = 'assistant' AND $__timeFilter(created_at)""")
            ],
            unit="percentunit",
            width=6,
            decimals=1,
        ),
        series(
            lay,
            "Questions per hour",
            [
                prom(
                    f"sum(increase({QUESTIONS}[1h]))",
                    "questions",
                )
            ],
            unit="short",
            description="When students work: plan office hours and capacity around it.",
        ),
        series(
            lay,
            "Tools the tutor used",
            [prom("sum by (tool) (increase(tutor_gateway_tool_uses_total[1h]))", "{{tool}}")],
            unit="short",
            stack=True,
            description="Course search, reading the notebook, running code… per hour.",
        ),
        series(
            lay,
            "Answers withheld by the output guard",
            [
                prom(
                    "sum by (course, exercise) "
                    "(increase(tutor_gateway_guard_withheld_total[1h]))",
                    "{{course}} · {{exercise}}",
                )
            ],
            unit="short",
            stack=True,
            description="Answers cut because they reproduced a protected solution, per "
            "exercise and hour: where students push for the graded answer.",
        ),
        panel(
            lay,
            "table",
            "Notebooks with the most questions",
            [
                sql("""SELECT coalesce(c.notebook_path, '(no notebook)') AS notebook,
                      count(*) AS questions, count(DISTINCT c.user_name) AS students
                      FROM messages m JOIN conversations c ON c.id = m.conversation_id
                      WHERE m.role = 'user' AND $__timeFilter(m.created_at)
                      GROUP BY 1 ORDER BY 2 DESC LIMIT 20""")
            ],
            width=12,
            height=10,
            description="Where the course material raises the most questions.",
        ),
        series(
            lay,
            "Students asking per day",
            [
                sql(
                    """SELECT date_trunc('day', created_at) AS "time",
                      count(DISTINCT user_name) AS students FROM conversations
                      WHERE $__timeFilter(created_at) GROUP BY 1 ORDER BY 1""",
                    fmt="time_series",
                )
            ],
            unit="short",
            width=12,
            height=10,
        ),
        panel(
            lay,
            "table",
            "Courses: conversations and students",
            [
                sql("""SELECT coalesce(course_id, '(none)') AS course,
                      count(*) AS conversations, count(DISTINCT user_name) AS students
                      FROM conversations WHERE $__timeFilter(updated_at)
                      GROUP BY 1 ORDER BY 2 DESC""")
            ],
            width=12,
            height=8,
        ),
        series(
            lay,
            "Answers by outcome",
            [prom("sum by (status) (increase(tutor_gateway_turns_total[1h]))", "{{status}}")],
            unit="short",
            stack=True,
            width=12,
            height=8,
        ),
    ]
    return dashboard(
        "tutor-learning",
        "Jupyter Tutor / Learning",
        "How students use the tutor: when, where in the course, with which tools.",
        panels,
        True,
    )


def infrastructure() -> dict:
    lay = Layout()
    panels = [
        replicas_up(lay, width=6),
        stat(
            lay,
            "Students' servers running",
            [prom("sum(jupyterhub_running_servers)")],
            width=6,
            decimals=0,
        ),
        stat(
            lay,
            "Active users (24 h)",
            [prom('sum(jupyterhub_active_users{period="24h"})')],
            width=6,
            decimals=0,
        ),
        stat(
            lay,
            "Database size",
            [sql("SELECT pg_database_size(current_database()) AS size")],
            unit="bytes",
            width=6,
            decimals=1,
        ),
        series(
            lay,
            "Gateway CPU by replica",
            [prom(f"rate(process_cpu_seconds_total{{{GATEWAY}}}[{RATE}])", "{{instance}}")],
            unit="percentunit",
        ),
        series(
            lay,
            "Gateway memory by replica",
            [prom(f"process_resident_memory_bytes{{{GATEWAY}}}", "{{instance}}")],
            unit="bytes",
        ),
        series(
            lay,
            "Server spawn time, p95",
            [prom(p95("jupyterhub_server_spawn_duration_seconds"), "p95")],
            unit="s",
            description="From the click to a running server: image pulls, node scale-up.",
        ),
        series(
            lay,
            "Students' servers running",
            [prom("sum(jupyterhub_running_servers)", "running")],
            unit="short",
        ),
        series(
            lay,
            "Gateway open files",
            [prom(f"process_open_fds{{{GATEWAY}}}", "{{instance}}")],
            unit="short",
        ),
        panel(
            lay,
            "table",
            "Largest tables",
            [
                sql("""SELECT relname AS "table", pg_total_relation_size(relid) AS bytes,
                      n_live_tup AS "rows" FROM pg_catalog.pg_stat_user_tables
                      ORDER BY 2 DESC LIMIT 10""")
            ],
            unit="bytes",
            description="Conversations and chunks grow; see docs/deploy.md for sizing.",
        ),
    ]
    return dashboard(
        "tutor-infrastructure",
        "Jupyter Tutor / Infrastructure",
        "Replicas, CPU and memory, the hub's servers, the database.",
        panels,
        True,
    )


DASHBOARDS = {
    "tutor-overview.json": overview,
    "tutor-performance.json": performance,
    "tutor-costs.json": costs,
    "tutor-learning.json": learning,
    "tutor-infrastructure.json": infrastructure,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    stale = []
    for name, text in render().items():
        path = OUT / name
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run python infra/grafana/dashboards.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
