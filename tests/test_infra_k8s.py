"""Kubernetes: the manifests in infra/k8s and the Zero to JupyterHub config, without a cluster.

- Every core object is validated (strictly: unknown fields fail) against the Kubernetes
  OpenAPI schemas that the `kubernetes-validate` package ships, for the oldest and the
  newest Kubernetes version we support.  Custom resources (CloudNativePG, cert-manager,
  Prometheus Operator) get structural checks of the fields we rely on.
- The chart's values schema is not published in any package registry, so config.yaml is
  checked against the documented keys of the chart (values.schema.yaml of chart 4.x) for
  every section it uses: a misspelt key fails.
- The chart's mapping from values to KubeSpawner is applied to config.yaml as the chart's
  jupyterhub_config.py does for the keys used here, hub.extraConfig is executed, and a real
  KubeSpawner renders the students' pods for each profile.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from traitlets.config import Config, PyFileConfigLoader

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "infra" / "k8s"
MANIFEST_FILES = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
Z2JH_VALUES = K8S / "jupyterhub" / "config.yaml"
GATEWAY_CONFIG = REPO / "infra" / "gateway" / "tutor_gateway_config.py"
RULES = REPO / "infra" / "prometheus" / "rules" / "tutor-alerts.yml"
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SECRET_KEYS = {
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "TUTOR_DATABASE_URL",
    "TUTOR_GATEWAY_API_TOKEN",
}
GATEWAY_LABEL = {"app.kubernetes.io/name": "tutor-gateway"}


def _objects() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in MANIFEST_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path.name, doc))
    return found


OBJECTS = _objects()
CUSTOM = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("cert-manager.io/v1", "Issuer"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def find(kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for _, o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def _id(item: tuple[str, dict]) -> str:
    return f"{item[0]}:{item[1]['kind']}/{item[1]['metadata']['name']}"


# --- the manifests -----------------------------------------------------------------------


def test_kustomization_applies_every_manifest_but_the_examples() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "jupyter-tutor"
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFEST_FILES if not p.name.endswith(".example.yaml")}


@pytest.mark.parametrize(
    "item", [o for o in OBJECTS if (o[1]["apiVersion"], o[1]["kind"]) not in CUSTOM], ids=_id
)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_match_the_kubernetes_schema(item, version: str) -> None:
    _, obj = item
    kubernetes_validate.validate(obj, version, strict=True)


def test_custom_resources_are_the_known_kinds_with_their_required_fields() -> None:
    custom = {(o["apiVersion"], o["kind"]) for _, o in OBJECTS} - {
        (o["apiVersion"], o["kind"])
        for _, o in OBJECTS
        if (o["apiVersion"], o["kind"]) not in CUSTOM
    }
    assert custom == CUSTOM
    cluster = find("Cluster", "tutor-db")["spec"]
    assert cluster["instances"] >= 2
    assert cluster["imageName"].split(":")[-1].startswith("18")  # same major as pg_dump
    assert cluster["bootstrap"]["initdb"]["database"] == "tutor"
    assert (
        "CREATE EXTENSION IF NOT EXISTS vector"
        in (cluster["bootstrap"]["initdb"]["postInitApplicationSQL"])
    )
    assert cluster["storage"]["size"].endswith("Gi")
    issuer = find("Issuer", "letsencrypt")["spec"]["acme"]
    assert issuer["server"].startswith("https://") and issuer["privateKeySecretRef"]["name"]
    assert issuer["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "nginx"
    monitor = find("ServiceMonitor", "tutor-gateway")["spec"]
    assert monitor["selector"]["matchLabels"] == GATEWAY_LABEL
    assert monitor["endpoints"][0]["path"] == "/services/tutor/metrics"
    assert monitor["endpoints"][0]["port"] == "http"


def test_prometheus_rule_holds_exactly_the_shipped_alert_rules() -> None:
    rule = find("PrometheusRule", "tutor")
    assert rule["spec"] == yaml.safe_load(RULES.read_text()), (
        "copy the groups of infra/prometheus/rules/tutor-alerts.yml into the PrometheusRule's "
        "spec in infra/k8s/monitoring.yaml"
    )


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    return container


def _assert_locked_down(obj: dict[str, Any]) -> None:
    pod = (
        obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        if obj["kind"] == "CronJob"
        else obj["spec"]["template"]["spec"]
    )
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    ctx = _container(obj)["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert not ctx.get("privileged")
    mounts = {m["mountPath"] for m in _container(obj)["volumeMounts"]}
    assert "/tmp" in mounts  # the only writable scratch space


def test_gateway_deployment() -> None:
    deployment = find("Deployment", "tutor-gateway")
    _assert_locked_down(deployment)
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = spec["template"]["metadata"]["labels"]
    assert labels["hub.jupyter.org/network-access-hub"] == "true"
    container = _container(deployment)
    assert container["command"] == ["jupyter-tutor", "gateway"]
    assert container["resources"]["limits"] and container["resources"]["requests"]
    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == "/services/tutor/"
    assert env["JUPYTERHUB_SERVICE_URL"]["value"] == "http://0.0.0.0:8080"
    assert env["JUPYTERHUB_API_URL"]["value"] == "http://hub:8081/hub/api"
    # every secret comes from the Secret, none is written here
    from_secret = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert from_secret == SECRET_KEYS
    assert all("value" not in env[k] for k in ("ANTHROPIC_API_KEY", "TUTOR_DATABASE_URL"))
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "tutor-gateway",
        "key": "TUTOR_GATEWAY_API_TOKEN",
    }
    # probes on the gateway's own routes
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/services/tutor/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/services/tutor/metrics"
    assert env["TUTOR_GATEWAY_CONFIG"]["value"].startswith("/etc/jupyter-tutor/gateway/")
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/services/tutor/metrics"


def test_gateway_service_autoscaler_and_disruption_budget() -> None:
    service = find("Service", "tutor-gateway")
    # the name and port are what TUTOR_GATEWAY_INTERNAL_URL points at
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["selector"] == GATEWAY_LABEL
    hpa = find("HorizontalPodAutoscaler", "tutor-gateway")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tutor-gateway",
    }
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    pdb = find("PodDisruptionBudget", "tutor-gateway")["spec"]
    assert pdb["selector"]["matchLabels"] == GATEWAY_LABEL
    assert find("ServiceAccount", "tutor-gateway")["automountServiceAccountToken"] is False


def test_gateway_configmap_is_the_shipped_gateway_config() -> None:
    data = find("ConfigMap", "tutor-gateway-config")["data"]
    assert data["tutor_gateway_config.py"] == GATEWAY_CONFIG.read_text()


def test_gateway_config_sets_only_real_settings() -> None:
    from jupyter_tutor_hub.apps.gateway import configurable_classes

    loader = PyFileConfigLoader(GATEWAY_CONFIG.name, path=str(GATEWAY_CONFIG.parent))
    config = loader.load_config()
    classes = {cls.__name__: cls for cls in configurable_classes()}
    assert set(config) <= set(classes)
    for section, values in config.items():
        traits = classes[section].class_traits(config=True)
        assert set(values) <= set(traits), (section, set(values) - set(traits))
        instance = classes[section](config=config)
        for name, value in values.items():
            assert getattr(instance, name) == value


def test_restore_job_example() -> None:
    job = find("Job", "tutor-db-restore")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:4] == ["jupyter-tutor", "db", "restore", "--yes"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "tutor-db-backup"  # admitted by tutor-db
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/backups"]["readOnly"] is True


def test_backup_cronjob() -> None:
    cron = find("CronJob", "tutor-db-backup")
    _assert_locked_down(cron)
    container = _container(cron)
    script = container["command"][-1]
    assert "jupyter-tutor db backup" in script
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (url,) = [e for e in container["env"] if e["name"] == "TUTOR_DATABASE_URL"]
    assert url["valueFrom"]["secretKeyRef"]["name"] == "tutor-gateway"
    volumes = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    claims = [
        v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v
    ]
    assert claims == ["tutor-db-backups"]
    find("PersistentVolumeClaim", "tutor-db-backups")
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "tutor-db-backup"


def _peers(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return rule.get("from", rule.get("to", []))


def test_network_policies() -> None:
    gateway = find("NetworkPolicy", "tutor-gateway")["spec"]
    assert gateway["podSelector"]["matchLabels"] == GATEWAY_LABEL
    assert set(gateway["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = gateway["ingress"]
    components = ingress["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert set(components) == {"singleuser-server", "proxy", "hub"}
    egress_to = [peer for rule in gateway["egress"] for peer in _peers(rule)]
    assert {"podSelector": {"matchLabels": {"cnpg.io/cluster": "tutor-db"}}} in egress_to
    assert {"podSelector": {"matchLabels": {"component": "hub"}}} in egress_to
    internet = [p["ipBlock"] for p in egress_to if "ipBlock" in p]
    assert internet and all("10.0.0.0/8" in b["except"] for b in internet)

    database = find("NetworkPolicy", "tutor-db")["spec"]
    assert database["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "tutor-db"}
    sources = [peer for rule in database["ingress"] for peer in _peers(rule)]
    selectors = [p["podSelector"]["matchLabels"] for p in sources if "podSelector" in p]
    assert GATEWAY_LABEL in selectors
    assert {"app.kubernetes.io/name": "tutor-db-backup"} in selectors
    # never a student's server, never "everything in the namespace"
    assert all(s and "component" not in s for s in selectors)
    assert all("ipBlock" not in p for p in sources)

    internet = find("NetworkPolicy", "singleuser-internet")["spec"]
    assert internet["podSelector"]["matchLabels"] == {
        "component": "singleuser-server",
        "tutor.jupyter.org/internet": "true",
    }
    assert internet["policyTypes"] == ["Egress"]


def test_example_secret_holds_the_keys_and_no_real_value() -> None:
    secret = find("Secret", "tutor-gateway")
    assert set(secret["stringData"]) == SECRET_KEYS
    assert all("replace-me" in v for v in secret["stringData"].values())


# --- Zero to JupyterHub values ------------------------------------------------------------

ANY = True  # a documented key whose value the chart passes on without a schema of its own
_IMAGE = {"name": ANY, "tag": ANY, "pullPolicy": ANY, "pullSecrets": ANY}
_NETPOL = {
    "enabled": ANY,
    "ingress": ANY,
    "egress": ANY,
    "egressAllowRules": {
        "cloudMetadataServer": ANY,
        "dnsPortsCloudMetadataServer": ANY,
        "dnsPortsKubeSystemNamespace": ANY,
        "dnsPortsPrivateIPs": ANY,
        "nonPrivateIPs": ANY,
        "privateIPs": ANY,
    },
    "interNamespaceAccessLabels": ANY,
    "allowedIngressPorts": ANY,
}
#: The keys of the chart's values.schema.yaml (chart 4.x) in the sections config.yaml uses.
Z2JH_DOCUMENTED: dict[str, Any] = {
    "hub": {
        "revisionHistoryLimit": ANY, "config": ANY, "extraFiles": ANY, "baseUrl": ANY,
        "command": ANY, "args": ANY, "cookieSecret": ANY, "image": _IMAGE,
        "networkPolicy": _NETPOL, "db": ANY, "labels": ANY, "initContainers": ANY,
        "extraEnv": ANY, "extraConfig": ANY, "fsGid": ANY, "service": ANY, "pdb": ANY,
        "existingSecret": ANY, "nodeSelector": ANY, "tolerations": ANY,
        "activeServerLimit": ANY, "allowNamedServers": ANY, "annotations": ANY,
        "authenticatePrometheus": ANY, "concurrentSpawnLimit": ANY,
        "consecutiveFailureLimit": ANY, "podSecurityContext": ANY,
        "containerSecurityContext": ANY, "deploymentStrategy": ANY, "extraContainers": ANY,
        "extraVolumeMounts": ANY, "extraVolumes": ANY, "livenessProbe": ANY,
        "readinessProbe": ANY, "namedServerLimitPerUser": ANY, "redirectToServer": ANY,
        "resources": ANY, "lifecycle": ANY, "services": ANY, "loadRoles": ANY,
        "shutdownOnLogout": ANY, "templatePaths": ANY, "templateVars": ANY,
        "serviceAccount": ANY, "extraPodSpec": ANY,
    },
    "proxy": {
        "chp": {
            "revisionHistoryLimit": ANY, "networkPolicy": _NETPOL,
            "extraCommandLineFlags": ANY, "extraEnv": ANY, "pdb": ANY, "nodeSelector": ANY,
            "tolerations": ANY, "containerSecurityContext": ANY, "image": _IMAGE,
            "livenessProbe": ANY, "readinessProbe": ANY, "resources": ANY,
            "defaultTarget": ANY, "errorTarget": ANY, "extraPodSpec": ANY,
        },
        "secretToken": ANY,
        "service": {
            "type": ANY, "labels": ANY, "annotations": ANY, "nodePorts": ANY,
            "disableHttpPort": ANY, "extraPorts": ANY, "loadBalancerIP": ANY,
            "loadBalancerSourceRanges": ANY,
        },
        "https": {"enabled": ANY, "type": ANY, "letsencrypt": ANY, "manual": ANY,
                  "secret": ANY, "hosts": ANY},
        "traefik": ANY, "labels": ANY, "annotations": ANY, "deploymentStrategy": ANY,
        "secretSync": ANY,
    },
    "singleuser": {
        "networkPolicy": _NETPOL, "podNameTemplate": ANY,
        "cpu": {"limit": ANY, "guarantee": ANY},
        "memory": {"limit": ANY, "guarantee": ANY},
        "image": _IMAGE, "initContainers": ANY, "profileList": ANY, "extraFiles": ANY,
        "extraEnv": ANY, "nodeSelector": ANY, "extraTolerations": ANY,
        "extraNodeAffinity": ANY, "extraPodAffinity": ANY, "extraPodAntiAffinity": ANY,
        "cloudMetadata": {"blockWithIptables": ANY, "ip": ANY},
        "cmd": ANY, "defaultUrl": ANY, "events": ANY, "extraAnnotations": ANY,
        "extraContainers": ANY, "extraLabels": ANY, "extraPodConfig": ANY,
        "extraResource": ANY, "fsGid": ANY, "lifecycleHooks": ANY, "networkTools": ANY,
        "serviceAccountName": ANY, "startTimeout": ANY,
        "storage": {
            "capacity": ANY, "dynamic": ANY, "extraLabels": ANY, "extraVolumeMounts": ANY,
            "extraVolumes": ANY, "homeMountPath": ANY, "static": ANY, "type": ANY,
        },
        "allowPrivilegeEscalation": ANY, "uid": ANY,
    },
    "scheduling": {
        "userScheduler": {
            "enabled": ANY, "revisionHistoryLimit": ANY, "replicas": ANY, "image": ANY,
            "pdb": ANY, "nodeSelector": ANY, "tolerations": ANY, "labels": ANY,
            "annotations": ANY, "containerSecurityContext": ANY, "logLevel": ANY,
            "plugins": ANY, "pluginConfig": ANY, "resources": ANY, "serviceAccount": ANY,
            "extraPodSpec": ANY,
        },
        "podPriority": {"enabled": ANY, "globalDefault": ANY, "defaultPriority": ANY,
                        "imagePullerPriority": ANY, "userPlaceholderPriority": ANY},
        "userPlaceholder": {"enabled": ANY, "image": ANY, "revisionHistoryLimit": ANY,
                            "replicas": ANY, "labels": ANY, "annotations": ANY,
                            "resources": ANY, "containerSecurityContext": ANY},
        "corePods": ANY,
        "userPods": ANY,
    },
    "prePuller": {
        "revisionHistoryLimit": ANY, "labels": ANY, "annotations": ANY, "resources": ANY,
        "extraTolerations": ANY, "containerSecurityContext": ANY, "pause": ANY,
        "hook": {"enabled": ANY, "pullOnlyOnChanges": ANY, "podSchedulingWaitDuration": ANY,
                 "nodeSelector": ANY, "tolerations": ANY, "containerSecurityContext": ANY,
                 "image": ANY, "resources": ANY, "serviceAccount": ANY},
        "continuous": {"enabled": ANY},
        "pullProfileListImages": ANY,
        "extraImages": ANY,
    },
    "ingress": {"enabled": ANY, "annotations": ANY, "ingressClassName": ANY, "hosts": ANY,
                "pathSuffix": ANY, "pathType": ANY, "tls": ANY},
    "cull": {"enabled": ANY, "users": ANY, "adminUsers": ANY, "removeNamedServers": ANY,
             "timeout": ANY, "every": ANY, "concurrency": ANY, "maxAge": ANY},
    "custom": ANY, "debug": ANY, "rbac": ANY, "global": ANY, "imagePullSecret": ANY,
    "imagePullSecrets": ANY, "fullnameOverride": ANY, "nameOverride": ANY, "enabled": ANY,
}  # fmt: skip


def _undocumented(values: Any, documented: Any, path: str = "") -> list[str]:
    if documented is ANY or not isinstance(values, dict):
        return []
    bad = []
    for key, value in values.items():
        if key not in documented:
            bad.append(f"{path}{key}")
        else:
            bad += _undocumented(value, documented[key], f"{path}{key}.")
    return bad


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load(Z2JH_VALUES.read_text())


def test_config_yaml_uses_only_documented_chart_keys(values) -> None:
    assert _undocumented(values, Z2JH_DOCUMENTED) == []
    # and the checker does catch a typo
    assert _undocumented({"singleuser": {"memory": {"limt": "1G"}}}, Z2JH_DOCUMENTED) == [
        "singleuser.memory.limt"
    ]


def test_config_yaml_course_settings(values) -> None:
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0
    assert values["hub"]["networkPolicy"]["enabled"] is True
    policy = values["singleuser"]["networkPolicy"]
    assert policy["enabled"] is True
    rules = policy["egressAllowRules"]
    assert rules["nonPrivateIPs"] is False and rules["privateIPs"] is False
    assert rules["cloudMetadataServer"] is False
    (to_gateway,) = policy["egress"]
    assert to_gateway["to"] == [{"podSelector": {"matchLabels": GATEWAY_LABEL}}]
    assert to_gateway["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert [p["slug"] for p in values["singleuser"]["profileList"]] == [
        "standard",
        "large",
        "internet",
    ]
    # the hub receives only the gateway's token from the gateway's Secret
    hub_env = values["hub"]["extraEnv"]
    refs = {
        k: v["valueFrom"]["secretKeyRef"]
        for k, v in hub_env.items()
        if isinstance(v, dict) and v["valueFrom"]["secretKeyRef"]["name"] == "tutor-gateway"
    }
    assert refs == {
        "TUTOR_GATEWAY_API_TOKEN": {"name": "tutor-gateway", "key": "TUTOR_GATEWAY_API_TOKEN"}
    }
    assert hub_env["TUTOR_GATEWAY_INTERNAL_URL"] == "http://tutor-gateway:8080"
    # TLS through cert-manager with the shipped Issuer, headers from the shipped ConfigMap
    ingress = values["ingress"]
    issuer = ingress["annotations"]["cert-manager.io/issuer"]
    assert find("Issuer", issuer)
    assert ingress["tls"][0]["hosts"] == ingress["hosts"]
    namespace, name = ingress["annotations"]["nginx.ingress.kubernetes.io/custom-headers"].split(
        "/"
    )
    assert namespace == "jupyter-tutor" and find("ConfigMap", name)
    for annotation in ("limit-rps", "limit-connections", "proxy-buffering"):
        assert f"nginx.ingress.kubernetes.io/{annotation}" in ingress["annotations"]
    assert values["proxy"]["https"]["enabled"] is False


def test_hub_config_names_real_traits(values) -> None:
    """hub.config is passed to JupyterHub as is: every class and trait must exist."""
    import contextlib
    import importlib

    from jupyterhub.app import JupyterHub

    where = {
        "JupyterHub": JupyterHub,
        "KubeSpawner": importlib.import_module("kubespawner").KubeSpawner,
    }
    with contextlib.suppress(ImportError):  # in the hub image; not a test dependency
        where["GenericOAuthenticator"] = importlib.import_module(
            "oauthenticator.generic"
        ).GenericOAuthenticator
    checked = 0
    for section, traits in values["hub"]["config"].items():
        if section not in where:
            assert section == "GenericOAuthenticator", section
            continue
        known = where[section].class_traits(config=True)
        assert set(traits) <= set(known), (section, set(traits) - set(known))
        checked += 1
    assert checked >= 2


def chart_config(values: dict[str, Any]) -> Config:
    """What the chart's jupyterhub_config.py makes of the keys config.yaml uses.

    Mirrors the chart's mapping (singleuser.* to KubeSpawner traits, hub.config merged,
    the culler's service and role, hub.extraConfig executed last, in name order).
    """
    su = values["singleuser"]
    c = Config()
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    c.KubeSpawner.image = f"{su['image']['name']}:{su['image']['tag']}"
    c.KubeSpawner.image_pull_policy = su["image"]["pullPolicy"]
    for trait, key in [
        ("start_timeout", "startTimeout"),
        ("uid", "uid"),
        ("fs_gid", "fsGid"),
        ("allow_privilege_escalation", "allowPrivilegeEscalation"),
        ("extra_labels", "extraLabels"),
        ("extra_pod_config", "extraPodConfig"),
        ("profile_list", "profileList"),
    ]:
        if key in su:
            c.KubeSpawner[trait] = su[key]
    c.KubeSpawner.cpu_limit = su["cpu"]["limit"]
    c.KubeSpawner.cpu_guarantee = su["cpu"]["guarantee"]
    c.KubeSpawner.mem_limit = su["memory"]["limit"]
    c.KubeSpawner.mem_guarantee = su["memory"]["guarantee"]
    c.KubeSpawner.environment = su.get("extraEnv", {})  # the chart's default is {}
    c.Spawner.default_url = su["defaultUrl"]
    c.Spawner.cmd = su.get("cmd", "jupyterhub-singleuser")  # the chart's default
    storage = su["storage"]
    assert storage["type"] == "dynamic"
    c.KubeSpawner.pvc_name_template = "claim-{username}{servername}"
    c.KubeSpawner.storage_pvc_ensure = True
    c.KubeSpawner.storage_capacity = storage["capacity"]
    volume = "volume-{username}{servername}"
    c.KubeSpawner.volumes = [
        {"name": volume, "persistentVolumeClaim": {"claimName": "claim-{username}{servername}"}},
        *storage.get("extraVolumes", []),
    ]
    c.KubeSpawner.volume_mounts = [
        {"mountPath": storage["homeMountPath"], "name": volume},
        *storage.get("extraVolumeMounts", []),
    ]
    if values["cull"]["enabled"]:
        c.JupyterHub.load_roles.append(
            {
                "name": "jupyterhub-idle-culler",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["jupyterhub-idle-culler"],
            }
        )
        c.JupyterHub.services.append(
            {
                "name": "jupyterhub-idle-culler",
                "command": ["python3", "-m", "jupyterhub_idle_culler"],
            }
        )
    for section, traits in values["hub"].get("config", {}).items():
        c[section].merge(Config(traits))
    namespace = {"c": c, "get_config": lambda key, default=None: default}
    for name in sorted(values["hub"]["extraConfig"]):
        exec(compile(values["hub"]["extraConfig"][name], name, "exec"), namespace)
    return c


@pytest.fixture
def hub_env(monkeypatch, values) -> None:
    for key, value in values["hub"]["extraEnv"].items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("TUTOR_GATEWAY_API_TOKEN", "gateway-token-for-tests")
    # secrets a careless hub pod might have: they must not reach a student's pod
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    monkeypatch.setenv("TUTOR_DATABASE_URL", "postgresql://tutor:must-not-leak@db/tutor")


@pytest.fixture
def kubeconfig(tmp_path, monkeypatch) -> None:
    """KubeSpawner loads a client configuration at start; it never connects here."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "t", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "t", "user": {"token": "unused"}}],
                "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
                "current-context": "t",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    # read once at import time, possibly before this fixture ran
    from kubernetes_asyncio.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


def test_hub_extra_config_keeps_the_charts_culler_and_adds_the_tutor(values, hub_env) -> None:
    c = chart_config(values)
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert set(services) == {"jupyterhub-idle-culler", "tutor"}
    assert services["tutor"]["url"] == "http://tutor-gateway:8080"
    assert services["tutor"]["api_token"] == "gateway-token-for-tests"
    roles = {r["name"] for r in c.JupyterHub.load_roles}
    assert {"jupyterhub-idle-culler", "user", "tutor-instructor", "tutor-gateway"} <= roles
    assert "access:services!service=tutor" in c.Spawner.server_token_scopes
    assert c.KubeSpawner.environment["TUTOR_GATEWAY_URL"] == (
        "http://tutor-gateway:8080/services/tutor/"
    )


def _pod(values: dict[str, Any], profile: str) -> dict[str, Any]:
    from kubespawner import KubeSpawner

    async def render() -> Any:
        spawner = KubeSpawner(config=chart_config(values), _mock=True)
        spawner.api_token = "user-server-token"
        spawner.user_options = {"profile": profile}
        await spawner.load_user_options()
        return await spawner.get_pod_manifest()

    return asyncio.run(render()).to_dict()


@pytest.mark.parametrize(
    ("profile", "cpu", "memory"),
    [("standard", 1, 2 * 1024**3), ("large", 2, 4 * 1024**3), ("internet", 1, 2 * 1024**3)],
)
def test_kubespawner_pods_per_profile(values, hub_env, kubeconfig, profile, cpu, memory) -> None:
    pod = _pod(values, profile)
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example.org/jupyter-tutor/singleuser:0.1.0"
    assert container["args"] == ["jupyterhub-singleuser"]  # the image's tini stays PID 1
    assert container["command"] is None
    limits = container["resources"]["limits"]
    assert (limits["cpu"], limits["memory"]) == (cpu, memory)
    assert container["resources"]["requests"]["memory"] <= limits["memory"]
    ctx = container["security_context"]
    assert ctx["runAsUser"] == 1000 and ctx["runAsNonRoot"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["security_context"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["spec"]["security_context"]["fsGroup"] == 100
    assert not pod["spec"].get("init_containers")  # no privileged iptables container
    mounts = {m["mount_path"] for m in container["volume_mounts"]}
    assert {"/home/jovyan", "/tmp"} <= mounts
    labels = pod["metadata"]["labels"]
    assert labels["component"] == "singleuser-server"
    assert labels["hub.jupyter.org/network-access-hub"] == "true"
    internet = labels.get("tutor.jupyter.org/internet") == "true"
    assert internet == (profile == "internet")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TUTOR_GATEWAY_URL"] == "http://tutor-gateway:8080/services/tutor/"
    assert not set(env) & (SECRET_KEYS | {"POSTGRES_PASSWORD"})
    assert not [k for k, v in env.items() if "must-not-leak" in str(v)]
    assert "gateway-token-for-tests" not in env.values()
