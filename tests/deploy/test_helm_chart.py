"""The Helm chart, rendered and linted offline, every object checked against its schema.

helm-python-sdk renders with Helm's own Go code (no helm binary, no cluster); kubernetes-validate
holds the Kubernetes API schemas. The Operator's objects are checked for the fields its CRDs
require, and the PrometheusRule's groups go through promtool, with a unit test proving that the
rules select the job the ServiceMonitor gives the scraped series.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import parse_config
from exporter.sharding import Shard, hashed_shard, parse_shard
from mixin.generate import CHART_FILES
from tests.helpers import private_pem, promtool, signing_key, write_key_file

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "binance-pm-exporter"
KUBERNETES = "1.30.0"
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}


def helm_sdk() -> Any:
    """helm-python-sdk ships Linux x86_64 wheels only: skip elsewhere, never under CI."""
    try:
        import helm_python
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("helm-python-sdk is required under CI=true (pip install '.[test]')")
        pytest.skip("helm-python-sdk is not installed (Linux x86_64 wheels only)")
    return helm_python


def render(values: dict, release: str = "pm", namespace: str = "monitoring") -> list[dict]:
    helm = helm_sdk()
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=release, namespace=namespace)
    objects = []
    for text in manifests.values():
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str) -> dict:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


SECRET = {"secrets": {"existingSecret": "binance-keys"}}
MONITORS = {
    "serviceMonitor": {"enabled": True, "additionalLabels": {"release": "kps"}},
    "prometheusRule": {"enabled": True, "additionalLabels": {"release": "kps"}},
    "alertmanagerConfig": {"enabled": True, "webhook": {"enabled": True}},
    "dashboards": {"enabled": True, "additionalLabels": {"release": "kps"}},
}
VALUE_SETS = {
    "defaults": {},
    "per-shard-secrets": {
        "secrets": {"existingSecret": "binance-keys", "perShard": True},
        "shards": 2,
        "ha": {"enabled": True},
    },
    "sharded": {
        **SECRET,
        "shards": 4,
        "egress": {"httpsProxy": "http://egress-$(SHARD_INDEX):3128"},
    },
    "monitors": {**SECRET, **MONITORS, "shards": 3},
    "ha": {
        **SECRET,
        **MONITORS,
        "shards": 2,
        "ha": {"enabled": True, "httpsProxy": "http://egress-b-$(SHARD_INDEX):3128"},
        "egress": {"httpsProxy": "http://egress-a-$(SHARD_INDEX):3128"},
        "networkPolicy": {"enabled": True, "extraEgress": [{"ports": [{"port": 3128}]}]},
        "configReload": {"enabled": False},
        "config": {"existingConfigMap": "pm-config"},
        "dashboards": {
            "enabled": True,
            "label": "dashboards",
            "labelValue": "pm",
            "namespace": "grafana",
            "annotations": {"grafana_folder": "Binance"},
            "additionalLabels": {"release": "kps"},
        },
    },
}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_chart_lints_clean(name):
    report = helm_sdk().lint(CHART, VALUE_SETS[name], strict=True)
    assert report["errors"] == []
    # Severity 1 is information ("icon is recommended"); 2 and 3 are warnings and errors.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def check_operator_object(obj: dict) -> None:
    """The fields the Operator's CRDs require (no package ships their schemas)."""
    version = "v1alpha1" if obj["kind"] == "AlertmanagerConfig" else "v1"
    assert obj["apiVersion"] == f"monitoring.coreos.com/{version}"
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    assert obj["metadata"]["name"] and obj["metadata"]["namespace"]
    spec = obj["spec"]
    if obj["kind"] == "AlertmanagerConfig":
        assert set(spec) == {"route", "receivers", "inhibitRules"}
        names = {r["name"] for r in spec["receivers"]}
        for route in [spec["route"], *spec["route"]["routes"]]:
            assert route["receiver"] in names
        for receiver in spec["receivers"]:
            for key in ("pagerdutyConfigs", "slackConfigs", "webhookConfigs"):
                for integration in receiver.get(key, []):
                    # Secrets by reference only: a SecretKeySelector.
                    for field in ("routingKey", "apiURL", "urlSecret"):
                        if field in integration:
                            assert set(integration[field]) == {"name", "key"}
    elif obj["kind"] == "ServiceMonitor":
        assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
        assert spec["selector"]["matchLabels"]
        for endpoint in spec["endpoints"]:
            assert set(endpoint) <= {
                "port",
                "path",
                "interval",
                "scrapeTimeout",
                "relabelings",
                "scheme",
            }
            for relabel in endpoint["relabelings"]:
                assert relabel["action"] in {"replace", "keep", "drop", "labelmap"}
    else:
        assert set(spec) == {"groups"}
        for group in spec["groups"]:
            assert set(group) <= {"name", "rules", "interval"} and group["name"]
            for rule in group["rules"]:
                assert ("record" in rule) != ("alert" in rule), rule
                assert isinstance(rule["expr"], str) and rule["expr"]
                assert set(rule) <= {"record", "alert", "expr", "for", "labels", "annotations"}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_rendered_object_validates_against_its_schema(name):
    import kubernetes_validate

    objects = render(VALUE_SETS[name])
    kinds = set()
    for obj in objects:
        kinds.add(obj["kind"])
        if obj["kind"] in OPERATOR_KINDS:
            check_operator_object(obj)
        else:
            # strict: unknown fields are errors; an unknown kind raises SchemaNotFoundError.
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    assert {"StatefulSet", "Service", "PodDisruptionBudget"} <= kinds


def test_an_unknown_field_fails_validation():
    import kubernetes_validate

    service = one(render({}), "Service")
    service["spec"]["clusterIp"] = "None"  # a misspelling
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES, strict=True)


def test_objects_per_value_set():
    kinds = {name: sorted(o["kind"] for o in render(v)) for name, v in VALUE_SETS.items()}
    assert kinds == {
        "defaults": ["ConfigMap", "PodDisruptionBudget", "Service", "StatefulSet"],
        "per-shard-secrets": ["ConfigMap", "PodDisruptionBudget", "Service", *["StatefulSet"] * 4],
        "sharded": ["ConfigMap", "PodDisruptionBudget", "Service", "StatefulSet"],
        "monitors": [
            "AlertmanagerConfig",
            "ConfigMap",
            "ConfigMap",
            "ConfigMap",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceMonitor",
            "StatefulSet",
        ],
        "ha": [
            "AlertmanagerConfig",
            "ConfigMap",
            "ConfigMap",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceMonitor",
            "StatefulSet",
            "StatefulSet",
        ],
    }


def container(sts: dict, name: str = "exporter") -> dict:
    containers = sts["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def env(c: dict) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def test_each_pod_of_the_statefulset_is_one_shard():
    objects = render(VALUE_SETS["sharded"], release="desk")
    sts = one(objects, "StatefulSet")
    assert sts["spec"]["replicas"] == 4
    assert sts["spec"]["serviceName"] == one(objects, "Service")["metadata"]["name"]
    args = container(sts)["args"]
    assert "--shard.count=4" in args and "--shard.index=$(POD_NAME)" in args
    assert env(container(sts))["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # The pod names the StatefulSet gives (<name>-<ordinal>) are the shards 0..3.
    name = sts["metadata"]["name"]
    assert [parse_shard(4, f"{name}-{i}") for i in range(4)] == [Shard(i, 4) for i in range(4)]


def test_ha_runs_a_second_statefulset_of_the_same_shards_with_its_own_egress():
    sets = of_kind(render(VALUE_SETS["ha"], release="desk"), "StatefulSet")
    assert [s["metadata"]["name"] for s in sets] == [
        "desk-binance-pm-exporter",
        "desk-binance-pm-exporter-b",
    ]
    assert [s["spec"]["replicas"] for s in sets] == [2, 2]
    assert [env(container(s))["HTTPS_PROXY"] for s in sets] == [
        "http://egress-a-$(SHARD_INDEX):3128",
        "http://egress-b-$(SHARD_INDEX):3128",
    ]
    assert env(container(sets[0]))["SHARD_INDEX"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    selectors = [s["spec"]["selector"]["matchLabels"]["binance-pm-exporter/replica"] for s in sets]
    assert selectors == ["a", "b"]
    for s in sets:
        name = s["metadata"]["name"]
        assert [parse_shard(2, f"{name}-{i}") for i in range(2)] == [Shard(0, 2), Shard(1, 2)]


def test_ha_replicas_leave_through_the_shards_proxy_unless_ha_sets_their_own():
    values = {**SECRET, "shards": 2, "ha": {"enabled": True}}
    values["egress"] = {"httpsProxy": "http://egress-$(SHARD_INDEX):3128", "noProxy": "10.0.0.0/8"}
    sets = of_kind(render(values), "StatefulSet")
    assert [env(container(s))["HTTPS_PROXY"] for s in sets] == [
        "http://egress-$(SHARD_INDEX):3128",
        "http://egress-$(SHARD_INDEX):3128",
    ]
    assert [env(container(s))["NO_PROXY"] for s in sets] == ["10.0.0.0/8", "10.0.0.0/8"]
    assert "SHARD_INDEX" in env(container(sets[1]))
    values["ha"]["httpsProxy"] = "http://egress-b-$(SHARD_INDEX):3128"
    sets = of_kind(render(values), "StatefulSet")
    assert env(container(sets[1]))["HTTPS_PROXY"] == "http://egress-b-$(SHARD_INDEX):3128"


SAME_SHARD_ELSEWHERE = {
    "weight": 100,
    "podAffinityTerm": {
        "labelSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "binance-pm-exporter",
                "app.kubernetes.io/instance": "desk",
            }
        },
        "matchLabelKeys": ["apps.kubernetes.io/pod-index"],
        "topologyKey": "kubernetes.io/hostname",
    },
}


def test_the_two_replicas_of_a_shard_prefer_separate_nodes():
    sets = of_kind(render(VALUE_SETS["ha"], release="desk"), "StatefulSet")
    for s in sets:
        anti = s["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        assert anti == {"preferredDuringSchedulingIgnoredDuringExecution": [SAME_SHARD_ELSEWHERE]}
    # Without HA there is no second replica to keep apart.
    sts = one(render(VALUE_SETS["sharded"], release="desk"), "StatefulSet")
    assert "affinity" not in sts["spec"]["template"]["spec"]


def test_the_shard_anti_affinity_adds_to_the_users_affinity():
    zone = {
        "weight": 10,
        "podAffinityTerm": {"labelSelector": {}, "topologyKey": "topology.kubernetes.io/zone"},
    }
    node = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["egress"]}]}]}}}  # fmt: skip
    affinity = {
        **node,
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [zone]},
    }
    values = {**VALUE_SETS["ha"], "affinity": affinity}
    for s in of_kind(render(values, release="desk"), "StatefulSet"):
        rendered = s["spec"]["template"]["spec"]["affinity"]
        assert rendered["nodeAffinity"] == node["nodeAffinity"]
        assert rendered["podAntiAffinity"] == {
            "preferredDuringSchedulingIgnoredDuringExecution": [zone, SAME_SHARD_ELSEWHERE]
        }
    values["ha"] = {**values["ha"], "shardAntiAffinity": False}
    for s in of_kind(render(values, release="desk"), "StatefulSet"):
        assert s["spec"]["template"]["spec"]["affinity"] == affinity


def test_the_chart_declares_the_kubernetes_it_needs_for_the_pod_index():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    # $(SHARD_INDEX) reads the apps.kubernetes.io/pod-index label, set since Kubernetes 1.28.
    assert chart["kubeVersion"] == ">=1.28.0-0"
    assert tuple(int(n) for n in KUBERNETES.split(".")) >= (1, 28, 0)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_pods_meet_the_restricted_pod_security_standard(name):
    for sts in of_kind(render(VALUE_SETS[name]), "StatefulSet"):
        pod = sts["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
        exporter = container(sts)
        assert exporter["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert exporter["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_config_comes_from_a_configmap_and_keys_from_an_existing_secret():
    objects = render(VALUE_SETS["sharded"])
    config_map = one(objects, "ConfigMap")
    assert (
        yaml.safe_load(config_map["data"]["config.yaml"])
        == yaml.safe_load((CHART / "values.yaml").read_text())["config"]["file"]
    )
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert volumes["secrets"]["secret"]["secretName"] == "binance-keys"
    mounts = {
        m["name"]: m for m in container({"spec": {"template": {"spec": pod}}})["volumeMounts"]
    }
    assert mounts["secrets"]["mountPath"] == "/etc/binance-pm-exporter/secrets"
    assert mounts["secrets"]["readOnly"] is True
    # Nothing secret by default: no Secret object, no inline key in the config.
    defaults = render({})
    assert of_kind(defaults, "Secret") == []
    config = yaml.safe_load(one(defaults, "ConfigMap")["data"]["config.yaml"])
    assert all("api_secret" not in a and "api_key" not in a for a in config["accounts"])


def test_a_config_change_reloads_through_the_sidecar_or_rolls_the_pods():
    sts = one(render(VALUE_SETS["sharded"]), "StatefulSet")
    reloader = container(sts, "config-reloader")
    assert "--webhook-url=http://127.0.0.1:10091/-/reload" in reloader["args"]
    assert "--volume-dir=/etc/binance-pm-exporter/secrets" in reloader["args"]
    assert "--web.enable-lifecycle" in container(sts)["args"]
    annotations = sts["spec"]["template"]["metadata"].get("annotations", {})
    assert "checksum/config" not in annotations

    def checksum(file: dict) -> str:
        values = {"configReload": {"enabled": False}, "config": {"file": file}}
        sts = one(render(values), "StatefulSet")
        assert [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]] == ["exporter"]
        assert "--web.enable-lifecycle" not in container(sts)["args"]
        return sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    first = checksum({"accounts": [{"name": "a"}]})
    assert checksum({"accounts": [{"name": "a"}]}) == first
    assert checksum({"accounts": [{"name": "b"}]}) != first


def test_the_network_policy_allows_egress_only_to_dns_and_https():
    policy = one(render(VALUE_SETS["ha"]), "NetworkPolicy")
    ports = [
        (p["port"], p.get("protocol", "TCP"))
        for rule in policy["spec"]["egress"]
        for p in rule["ports"]
    ]
    assert ports == [(53, "UDP"), (53, "TCP"), (443, "TCP"), (3128, "TCP")]
    assert all("to" not in rule for rule in policy["spec"]["egress"])
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_dashboards_are_configmaps_for_the_grafana_sidecar():
    default = of_kind(render(VALUE_SETS["monitors"], namespace="mon"), "ConfigMap")
    dashboards = [c for c in default if "grafana_dashboard" in c["metadata"]["labels"]]
    assert len(dashboards) == 2
    for c in dashboards:
        assert c["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert c["metadata"]["labels"]["release"] == "kps"
        assert c["metadata"]["namespace"] == "mon"
    custom = of_kind(render(VALUE_SETS["ha"]), "ConfigMap")
    assert {c["metadata"]["namespace"] for c in custom} == {"grafana"}
    for c in custom:
        assert c["metadata"]["labels"]["dashboards"] == "pm"
        assert c["metadata"]["annotations"] == {"grafana_folder": "Binance"}
        ((key, text),) = c["data"].items()
        original = (REPO / "grafana" / "dashboards" / key.removeprefix("binance-pm-")).read_text()
        assert json.loads(text) == json.loads(original)


def test_the_chart_carries_the_generated_rules_and_dashboards_unchanged():
    # `make mixin` writes these copies; tests/mixin/test_mixin_generated.py fails on drift.
    assert REPO / CHART_FILES == CHART / "files"
    sources = [REPO / "prometheus" / "alerts.yml", REPO / "prometheus" / "rules.yml"]
    sources += sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    copies = sorted(p for p in (CHART / "files").rglob("*") if p.is_file())
    assert len(copies) == len(sources)
    for source in sources:
        inside = "dashboards/" if source.suffix == ".json" else ""
        assert (CHART / "files" / f"{inside}{source.name}").read_text() == source.read_text()


def rendered_rules(values: dict, release: str) -> tuple[str, dict]:
    objects = render(values, release=release)
    monitor = one(objects, "ServiceMonitor")
    (job,) = [
        r["replacement"]
        for r in monitor["spec"]["endpoints"][0]["relabelings"]
        if r.get("targetLabel") == "job"
    ]
    return job, one(objects, "PrometheusRule")


JOB_MATCHER = re.compile(r'\bjob\s*(=~|!=|!~|=)\s*\\?"([^"\\]*)\\?"')


@pytest.mark.parametrize(
    ("release", "job"),
    [("binance-pm-exporter", None), ("desk", None), ("prod-pm", "pm-prod")],
)
def test_rules_and_dashboards_select_the_job_the_service_monitor_sets(release, job, tmp_path):
    values = dict(VALUE_SETS["monitors"])
    if job is not None:
        values["monitoring"] = {"job": job}
    scraped_job, rule = rendered_rules(values, release)
    assert scraped_job == (job or "binance-pm-exporter")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    matchers = {m for e in exprs for m in JOB_MATCHER.findall(e)}
    assert matchers == {("=", scraped_job)}
    assert all(JOB_MATCHER.search(e) for e in exprs)
    for c in of_kind(render(values, release=release), "ConfigMap"):
        if c["metadata"]["name"].endswith(("overview", "exporter-health")):
            (text,) = c["data"].values()
            assert set(JOB_MATCHER.findall(text)) == {("=", scraped_job)}
    # Proven on series: promtool checks the rendered groups, and an alert fires on series that
    # carry the scraped job.
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(
        [promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    labels = f'job="{scraped_job}", instance="10.0.0.7:10091", account="main"'
    unit = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"binance_pm_account_uni_mmr{{{labels}}}", "values": "1.0+0x5"},
                    {"series": f"binance_pm_account_maint_margin{{{labels}}}", "values": "10+0x5"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "BinancePMUniMMRNearLiquidation",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "kind": "margin",
                                    "job": scraped_job,
                                    "account": "main",
                                },
                                "exp_annotations": {
                                    "summary": "Account main: uniMMR 1.000, below 1.1: "
                                    "liquidation near",
                                    "description": "Account main has uniMMR 1.000 (adjusted "
                                    "equity / maintenance margin), below the critical threshold "
                                    "1.1. Next at Binance: at uniMMR 1.05 it cancels the "
                                    "account's open orders and liquidates its positions, with "
                                    "liquidation fees.",
                                    "runbook_url": "https://github.com/binance-pm-exporter/"
                                    "binance-pm-exporter/blob/main/docs/runbook.md"
                                    "#binancepmunimmrnearliquidation",
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "unit.yml"
    test_file.write_text(yaml.safe_dump(unit))
    tested = subprocess.run(
        [promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=30
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def with_mounted_keys(config: dict, mount: Path) -> dict:
    """The config with the Secret's mount point moved to ``mount``, a key in every file it names
    (as the pod sees them: one file per key)."""
    text = json.dumps(config).replace("/etc/binance-pm-exporter/secrets", str(mount))
    moved = json.loads(text)
    mount.mkdir(exist_ok=True)
    for account in moved["accounts"]:
        for key, path in account.items():
            if key == "private_key_file":
                write_key_file(Path(path), private_pem(signing_key("ed25519")))
            elif key.endswith("_file"):
                write_key_file(Path(path), f"{account['name']}0123456789abcdef")
    return moved


def readme_values() -> dict:
    """The values-prod.yaml the chart's README installs with."""
    readme = (CHART / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "values-prod" in b]
    return yaml.safe_load(textwrap.dedent(block))


@pytest.mark.parametrize("source", ["defaults", "readme"])
def test_the_config_the_chart_renders_is_one_every_shard_starts_with(source, tmp_path):
    values = {} if source == "defaults" else readme_values()
    objects = render(values)
    sts = one(objects, "StatefulSet")
    (text,) = [
        c["data"]["config.yaml"]
        for c in of_kind(objects, "ConfigMap")
        if "config.yaml" in c["data"]
    ]
    raw = yaml.safe_load(text)
    config = with_mounted_keys(raw, tmp_path / "secrets")
    shards = sts["spec"]["replicas"]
    owned = []
    for index in range(shards):
        shard = parse_shard(shards, f"pm-binance-pm-exporter-{index}")
        parsed = parse_config(config, {}, shard)
        assert parsed.accounts_configured == len(raw["accounts"])
        assert parsed.planned_weight_per_minute() <= parsed.polling.max_weight_per_minute
        owned += [a.name for a in parsed.accounts]
    assert sorted(owned) == sorted(a["name"] for a in raw["accounts"])


def test_the_alertmanager_config_routes_and_mutes_as_the_shipped_example():
    example = yaml.safe_load((REPO / "prometheus" / "alertmanager.example.yml").read_text())
    spec = one(render({"alertmanagerConfig": {"enabled": True}}), "AlertmanagerConfig")["spec"]
    assert spec["route"]["groupBy"] == example["route"]["group_by"]
    routes = {r["matchers"][0]["value"]: r for r in spec["route"]["routes"]}
    shipped = {r["matchers"][0].split('"')[1]: r for r in example["route"]["routes"]}
    for severity in ("critical", "warning"):
        assert routes[severity]["receiver"] == shipped[severity]["receiver"]
        assert routes[severity]["groupWait"] == shipped[severity]["group_wait"]
    (inhibit,) = spec["inhibitRules"]
    assert inhibit["equal"] == example["inhibit_rules"][0]["equal"]
    assert {r["name"] for r in spec["receivers"]} == {r["name"] for r in example["receivers"]}


def test_the_alert_groups_are_evaluated_at_the_recommended_interval():
    rule = one(render({"prometheusRule": {"enabled": True}}), "PrometheusRule")
    assert {g["interval"] for g in rule["spec"]["groups"]} == {"5s"}
    monitor = one(render({"serviceMonitor": {"enabled": True}}), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"


PER_SHARD = {
    "secrets": {"existingSecret": "binance-keys", "perShard": True},
    "shards": 3,
    "egress": {"httpsProxy": "http://egress-$(SHARD_INDEX):3128"},
}


def test_per_shard_secrets_give_each_shard_its_own_statefulset_and_secret():
    sets = of_kind(render(PER_SHARD, release="desk"), "StatefulSet")
    assert [s["metadata"]["name"] for s in sets] == [
        f"desk-binance-pm-exporter-shard-{i}" for i in range(3)
    ]
    for i, s in enumerate(sets):
        assert s["spec"]["replicas"] == 1
        assert s["spec"]["selector"]["matchLabels"]["binance-pm-exporter/shard"] == str(i)
        pod = s["spec"]["template"]
        assert pod["metadata"]["labels"]["binance-pm-exporter/shard"] == str(i)
        args = container(s)["args"]
        assert "--shard.count=3" in args and f"--shard.index={i}" in args
        # The pod-index label is 0 in every one of them: the proxy's index is the shard's.
        assert env(container(s))["SHARD_INDEX"] == str(i)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == f"binance-keys-{i}"
    # The headless Service and the disruption budget still select every shard's pod.
    objects = render(PER_SHARD, release="desk")
    selector = one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector == one(objects, "Service")["spec"]["selector"]
    for s in sets:
        assert selector.items() <= s["spec"]["template"]["metadata"]["labels"].items()


def test_per_shard_secrets_validate_with_ha_and_keep_a_shards_replicas_apart():
    import kubernetes_validate

    values = {**PER_SHARD, "ha": {"enabled": True}}
    objects = render(values, release="desk")
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    sets = of_kind(objects, "StatefulSet")
    assert [s["metadata"]["name"] for s in sets] == [
        *(f"desk-binance-pm-exporter-shard-{i}" for i in range(3)),
        *(f"desk-binance-pm-exporter-b-shard-{i}" for i in range(3)),
    ]
    for s in sets:
        shard = s["spec"]["selector"]["matchLabels"]["binance-pm-exporter/shard"]
        volumes = {v["name"]: v for v in s["spec"]["template"]["spec"]["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == f"binance-keys-{shard}"
        anti = s["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        assert term["podAffinityTerm"] == {
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "binance-pm-exporter",
                    "app.kubernetes.io/instance": "desk",
                    "binance-pm-exporter/shard": shard,
                }
            },
            "topologyKey": "kubernetes.io/hostname",
        }
    report = helm_sdk().lint(CHART, values, strict=True)
    assert report["errors"] == []


def test_per_shard_secrets_need_the_secrets_name():
    with pytest.raises(Exception, match=re.escape("secrets.perShard needs secrets.existingSecret")):
        render({"secrets": {"perShard": True}})


def test_a_shard_starts_with_only_its_own_accounts_keys(tmp_path):
    """What goes into binance-keys-N: the key files shard N's accounts name, nothing else."""
    accounts = [
        {
            "name": f"sub-{n}",
            "api_key_file": f"/etc/binance-pm-exporter/secrets/sub-{n}.key",
            "api_secret_file": f"/etc/binance-pm-exporter/secrets/sub-{n}.secret",
        }
        for n in range(12)
    ]
    values = {**PER_SHARD, "config": {"file": {"accounts": accounts}}}
    objects = render(values)
    (text,) = [c["data"]["config.yaml"] for c in of_kind(objects, "ConfigMap")]
    raw = yaml.safe_load(text)
    owned: list[str] = []
    for sts in of_kind(objects, "StatefulSet"):
        args = container(sts)["args"]
        (index,) = [a.split("=", 1)[1] for a in args if a.startswith("--shard.index=")]
        shard = parse_shard(3, index)
        assert shard is not None
        mine = [a for a in raw["accounts"] if hashed_shard(a["name"], 3) == shard.index]
        assert mine
        # This shard's Secret, mounted alone: the other shards' key files are absent.
        mount = tmp_path / f"shard-{index}"
        only_mine = with_mounted_keys({"accounts": mine}, mount)
        config = json.loads(json.dumps(raw).replace("/etc/binance-pm-exporter/secrets", str(mount)))
        parsed = parse_config(config, {}, shard)
        assert [a.name for a in parsed.accounts] == [a["name"] for a in only_mine["accounts"]]
        assert len(list(mount.iterdir())) == 2 * len(mine)
        owned += [a.name for a in parsed.accounts]
    assert sorted(owned) == sorted(a["name"] for a in accounts)


def test_extra_args_are_rendered_as_quoted_strings():
    import kubernetes_validate

    values = {"extraArgs": ["--web.telemetry-path=/a: b", 5, True, "--log.level=debug #x"]}
    sts = one(render(values), "StatefulSet")
    assert container(sts)["args"][-4:] == [
        "--web.telemetry-path=/a: b",
        "5",
        "true",
        "--log.level=debug #x",
    ]
    kubernetes_validate.validate(sts, KUBERNETES, strict=True)


def test_an_existing_configmap_gets_no_checksum_that_could_not_follow_it():
    values = {"configReload": {"enabled": False}, "config": {"existingConfigMap": "pm-config"}}
    sts = one(render(values), "StatefulSet")
    assert "checksum/config" not in sts["spec"]["template"]["metadata"].get("annotations", {})
    readme = (CHART / "README.md").read_text()
    assert "kubectl -n binance-pm rollout restart statefulset -l app.kubernetes.io/instance=pm" in (
        readme
    )


def test_openshift_leaves_the_user_and_groups_to_the_security_context_constraints():
    import kubernetes_validate

    values = {**SECRET, "openshift": True, "ha": {"enabled": True}}
    for sts in of_kind(render(values), "StatefulSet"):
        pod = sts["spec"]["template"]["spec"]
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert container(sts)["securityContext"]["readOnlyRootFilesystem"] is True
        kubernetes_validate.validate(sts, KUBERNETES, strict=True)
    # Off (the default): the fixed user and the fsGroup that makes the Secret's files readable.
    pod = one(render(SECRET), "StatefulSet")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10091
    assert pod["securityContext"]["fsGroup"] == 10091
