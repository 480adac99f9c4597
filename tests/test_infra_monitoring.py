"""Observability: Prometheus rules and scrape configs, Grafana dashboards.

promtool (from Debian's `prometheus` package; `make test` installs it) checks the rules
and runs their unit tests; every metric the rules and dashboards use must be one the
gateway's /metrics exports (or JupyterHub's, or a rule records); every SQL panel runs
against the tutor's real schema.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS = REPO / "infra" / "prometheus"
RULES = PROMETHEUS / "rules" / "tutor-alerts.yml"
GRAFANA = REPO / "infra" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))

#: Series Prometheus makes itself.
PROMETHEUS_OWN = {"up"}
#: Metric names must look like ours, JupyterHub's or the process collector's.
_NAME = re.compile(r"\b((?:tutor_gateway|jupyterhub|process)_[a-z0-9_]+|tutor:[a-z0-9_:]+|up)\b")


def _promtool() -> str:
    found = shutil.which("promtool") or str(Path(sys.executable).with_name("promtool"))
    if not Path(found).exists():
        pytest.skip(
            "promtool is not installed: `make test` takes it from Debian's prometheus package"
        )
    return found


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules() -> None:
    result = _run("check", "rules", RULES.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_unit_tests_pass() -> None:
    result = _run("test", "rules", "tutor-alerts.test.yml", cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_one_host_scrape_config() -> None:
    # --syntax-only: the hub token file exists only inside the Prometheus container.
    result = _run("check", "config", "--syntax-only", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_scrape_config_structure() -> None:
    # Debian's promtool is built without Kubernetes service discovery: checked by hand.
    config = yaml.safe_load((PROMETHEUS / "prometheus-kubernetes.yml").read_text())
    assert config["rule_files"] == ["rules/tutor-alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"tutor-gateway", "jupyterhub", "tutor-db"}
    gateway = jobs["tutor-gateway"]
    assert gateway["metrics_path"] == "/services/tutor/metrics"
    assert gateway["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["jupyter-tutor"]
    keep = gateway["relabel_configs"][0]
    assert keep["action"] == "keep" and keep["regex"] == "tutor-gateway;http"
    assert jobs["jupyterhub"]["authorization"]["type"] == "Bearer"


def test_the_alerts_the_issue_asks_for_exist() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert {
        "TutorGatewayDown",
        "TutorSlowFirstToken",
        "TutorHighErrorRate",
        "TutorDailyCostOverBudget",
        "TutorToolFailures",
    } <= set(alerts)
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"]
    recorded = {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}
    assert "> 5" in alerts["TutorSlowFirstToken"]["expr"]
    assert "0.95" in recorded["tutor:first_token_seconds:p95_10m"]
    assert "> 0.05" in alerts["TutorHighErrorRate"]["expr"]
    assert "> 0.10" in alerts["TutorToolFailures"]["expr"]
    # every runbook link lands on the admin guide's section, which names every alert
    guide = (REPO / "docs" / "deploy.md").read_text()
    assert "\n## When an alert fires\n" in guide
    for name, rule in alerts.items():
        assert rule["annotations"]["runbook"] == "docs/deploy.md#when-an-alert-fires"
        assert name in guide, name


# --- metric names --------------------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """Every sample name the gateway's /metrics (and the hub's) can show."""
    import jupyterhub.metrics  # noqa: F401
    from prometheus_client import REGISTRY

    import jupyter_tutor_hub.gateway.metrics  # noqa: F401  (registers the gateway's metrics)

    suffixes = {
        "counter": ["_total", "_created"],
        "histogram": ["_bucket", "_sum", "_count", "_created"],
        "summary": ["", "_sum", "_count", "_created"],
        "gauge": [""],
        "info": ["_info"],
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + s for s in suffixes.get(family.type, [""]))
        names.update(sample.name for sample in family.samples)
    return names


def recorded_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


def _expressions() -> dict[str, str]:
    found = {}
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for group in groups:
        for rule in group["rules"]:
            found[f"rule {rule.get('alert') or rule.get('record')}"] = rule["expr"]
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                if "expr" in target:
                    found[f"{path.name}: {panel['title']} {target['refId']}"] = target["expr"]
    return found


def used_metric_names() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for where, expr in _expressions().items():
        without_strings = re.sub(r'"[^"]*"', '""', expr)
        for name in _NAME.findall(without_strings):
            used.setdefault(name, set()).add(where)
    return used


def test_every_metric_used_is_exported_by_the_gateway() -> None:
    exported = exported_metric_names() | recorded_names() | PROMETHEUS_OWN
    assert "tutor_gateway_first_token_seconds_bucket" in exported
    assert "tutor_gateway_requests_total" in exported
    missing = {
        name: sorted(where)
        for name, where in used_metric_names().items()
        if name not in exported
    }
    assert missing == {}


def test_the_dashboards_cover_every_gateway_metric() -> None:
    from prometheus_client.metrics import MetricWrapperBase

    import jupyter_tutor_hub.gateway.metrics as metrics

    ours = {m._name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    used = " ".join(
        t.get("expr", "")
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
        for t in panel["targets"]
    )
    assert ours and [name for name in sorted(ours) if name not in used] == []


# --- Grafana -------------------------------------------------------------------------------


def _generator():
    spec = importlib.util.spec_from_file_location("tutor_dashboards", GRAFANA / "dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dashboard_files_are_generated_from_dashboards_py() -> None:
    rendered = _generator().render()
    assert sorted(rendered) == [p.name for p in DASHBOARDS]
    stale = [
        name
        for name, text in rendered.items()
        if (GRAFANA / "dashboards" / name).read_text() != text
    ]
    assert stale == [], "run: python infra/grafana/dashboards.py"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    board = json.loads(path.read_text())
    assert board["uid"] == path.stem and board["title"].startswith("Jupyter Tutor / ")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}  # fmt: skip
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            source = target["datasource"]["uid"].strip("${}")
            assert source in variables, (panel["title"], source)


def test_five_dashboards() -> None:
    assert {p.stem for p in DASHBOARDS} == {
        "tutor-overview",
        "tutor-performance",
        "tutor-costs",
        "tutor-learning",
        "tutor-infrastructure",
    }


def _sql_panels() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                if "rawSql" in target:
                    found.append((f"{path.stem}: {panel['title']}", target["rawSql"]))
    return found


def _expand_grafana_macros(query: str) -> str:
    return re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        r"\1 BETWEEN now() - interval '7 days' AND now()",
        query,
    )


def test_sql_panels_run_against_the_tutor_schema(database_url: str) -> None:
    panels = _sql_panels()
    assert len(panels) >= 8
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO conversations (id, user_name, course_id, notebook_path)"
            " VALUES (gen_random_uuid(), 'student1', 'intro', 'week1/loops.ipynb')"
        )
        conn.execute(
            "INSERT INTO messages (conversation_id, role, content)"
            " SELECT id, 'user', '[]'::jsonb FROM conversations"
        )
        for where, query in panels:
            assert "content" not in query.split("FROM")[0], f"{where} reads message text"
            try:
                rows: list[Any] = conn.execute(_expand_grafana_macros(query)).fetchall()
            except psycopg.Error as err:
                pytest.fail(f"{where}: {err}")
            assert isinstance(rows, list)


def test_grafana_provisioning_points_at_the_shipped_files() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/tutor.yml").read_text())
    kinds = {d["type"] for d in sources["datasources"]}
    assert kinds == {"prometheus", "grafana-postgresql-datasource"}
    (database,) = [d for d in sources["datasources"] if d["type"] != "prometheus"]
    assert database["user"] == "grafana_reader"  # the read-only role of docs/deploy.md
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/tutor.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/tutor"
