"""helm-values/ rendered with the real zero-to-jupyterhub chart by a real helm.

helm (built from the Go module proxy on first use, cached) runs ``helm template`` with
each values file, which also validates the merged values against the chart's
``values.schema.json``; the same merged values are checked with jsonschema and with
fedspawner's own key check, and a misspelt key must be refused.
"""

from __future__ import annotations

import yaml
import pytest

from fedspawner.deploy.helm import HelmError, template
from fedspawner.deploy.helm_chart import BASE_VALUES, EXAMPLES, chart_dir
from fedspawner.deploy.helm_values import chart_values, federation_problems, schema_errors

CHART = chart_dir()
pytestmark = [pytest.mark.helm,
              pytest.mark.skipif(CHART is None, reason="the z2jh chart source is not on this machine "
                                 "(set FEDSPAWNER_Z2JH_CHART to its jupyterhub/ directory)")]


def files(example: str) -> list:
    return [BASE_VALUES, EXAMPLES[example]]


def rendered_values(rendered) -> dict:
    """The values z2jh's jupyterhub_config.py reads: the hub Secret's values.yaml."""
    return yaml.safe_load(rendered.secret_data("hub")["values.yaml"])


def test_examples_exist():
    assert set(EXAMPLES) == {"onprem-cloud-burst", "namespace-only"}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_renders_hub_and_proxy_only(example):
    rendered = template(CHART, files(example), kube_version="1.34.4")
    names = {(d["kind"], d["metadata"]["name"]) for d in rendered.documents}
    assert {("Deployment", "hub"), ("Deployment", "proxy"), ("Service", "proxy-public"),
            ("Service", "hub"), ("Secret", "hub"), ("ConfigMap", "hub")} <= names
    # Member clusters run their own schedulers: none of the chart's scheduling parts.
    assert not [n for n in names if "user-scheduler" in n[1] or "placeholder" in n[1] or "puller" in n[1]]


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_merged_values_pass_the_chart_schema_and_fedspawner_keys(example):
    values = chart_values(CHART, files(example))
    assert schema_errors(CHART, values) == []
    assert federation_problems(values) == []


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_hub_config_carries_the_federation(example):
    rendered = template(CHART, files(example))
    values = rendered_values(rendered)
    source = yaml.safe_load(EXAMPLES[example].read_text())
    assert values["hub"]["config"]["JupyterHub"]["spawner_class"] == "fedspawner"
    assert values["hub"]["config"]["Federation"]["clusters"] == source["hub"]["config"]["Federation"]["clusters"]
    assert "configure_hub(c)" in values["hub"]["extraConfig"]["fedspawner"]
    assert values["singleuser"]["profileList"] == source["singleuser"]["profileList"]
    # The chart's jupyterhub_config.py (in the ConfigMap) loads hub.config and extraConfig.
    config_py = rendered.find("ConfigMap", "hub")["data"]["jupyterhub_config.py"]
    assert 'get_config("hub.config", {})' in config_py and 'get_config("hub.extraConfig", {})' in config_py


def test_kubeconfigs_are_mounted_from_a_separate_secret_never_inline():
    rendered = template(CHART, files("onprem-cloud-burst"))
    pod = rendered.find("Deployment", "hub")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "fedspawner-kubeconfigs")
    assert volume == {"name": "fedspawner-kubeconfigs", "secret": {"secretName": "fedspawner-kubeconfigs"}}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "fedspawner-kubeconfigs")
    assert mount["mountPath"] == "/etc/fedspawner" and mount["readOnly"] is True
    assert "fedspawner-kubeconfigs" not in {d["metadata"]["name"] for d in rendered.documents}
    for cluster in rendered_values(rendered)["hub"]["config"]["Federation"]["clusters"]:
        assert cluster.get("kubeconfig", "/etc/fedspawner/kubeconfig").startswith("/etc/fedspawner/")


def test_gateway_is_a_hub_service_reachable_from_the_proxy():
    rendered = template(CHART, files("onprem-cloud-burst"))
    values = rendered_values(rendered)
    service = values["hub"]["services"]["fedspawner-gateway"]
    assert service["url"] == "http://hub:8090" and service["command"][:3] == ["python3", "-m", "fedspawner.gateway"]
    # z2jh generates the service's API token into its own Secret.
    assert len(rendered.secret_data("hub")["hub.services.fedspawner-gateway.apiToken"]) >= 32
    ports = {p["port"]: p for p in rendered.find("Service", "hub")["spec"]["ports"]}
    assert ports[8090]["targetPort"] == 8090
    ingress = rendered.find("NetworkPolicy", "hub")["spec"]["ingress"]
    assert any(p.get("port") == 8090 for rule in ingress for p in rule.get("ports", []))
    roles = values["hub"]["loadRoles"]
    assert "access:services!service=fedspawner-gateway" in roles["server"]["scopes"]
    gateway_config = values["hub"]["extraFiles"]["fedspawner-gateway-config"]
    assert 'get_config("hub.config.Federation"' in gateway_config["stringData"]
    env = values["singleuser"]["extraEnv"]["FEDSPAWNER_GATEWAY_URL"]
    assert env.endswith("/services/fedspawner-gateway/")


def test_misspelt_chart_key_is_refused_by_helm_and_by_the_schema(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("hub:\n  extraVolume:\n    - name: x\n      emptyDir: {}\n")
    with pytest.raises(HelmError, match="extraVolume"):
        template(CHART, [BASE_VALUES, typo])
    errors = schema_errors(CHART, chart_values(CHART, [BASE_VALUES, typo]))
    assert len(errors) == 1 and errors[0].startswith("hub:") and "'extraVolume'" in errors[0]


def test_misspelt_fedspawner_key_passes_helm_but_not_the_federation_check(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("hub:\n  config:\n    Federation:\n      placement_polcy: spread\n")
    template(CHART, [BASE_VALUES, typo])  # hub.config passes anything through
    problems = federation_problems(chart_values(CHART, [BASE_VALUES, typo]))
    assert problems and problems[0].startswith("hub.config.Federation.placement_polcy")


def test_wrong_type_is_refused(tmp_path):
    typo = tmp_path / "typo.yaml"  # hub.config sections must be mappings of traits
    typo.write_text("hub:\n  config:\n    Federation: [onprem, burst]\n")
    with pytest.raises(HelmError, match="Federation"):
        template(CHART, [BASE_VALUES, typo])
    errors = schema_errors(CHART, chart_values(CHART, [BASE_VALUES, typo]))
    assert errors and errors[0].startswith("hub.config.Federation:")
