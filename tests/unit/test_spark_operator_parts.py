"""Pure parts of the Spark operator path: the SparkApplication's labels, the drivers' account,
and the RSA client certificate spark-submit's Kubernetes client can read."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedspawner.jobs.render import render
from fedspawner.sandbox.operators.install import SPARK_DRIVER_ACCOUNT, spark_driver_objects
from fedspawner.sandbox.pki import create_cluster_pki, issue_client_cert

from .test_jobs_render import make_spec, make_target


def test_the_application_and_its_pods_carry_the_recommended_labels():
    (_, app) = render(make_spec("spark", executors=2), make_target("sparkapplication"))
    name = app["metadata"]["name"]
    assert app["metadata"]["labels"]["app.kubernetes.io/instance"] == name
    assert app["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fedspawner"
    for part in ("driver", "executor"):
        for labels in (app["spec"][part]["labels"], app["spec"][part]["template"]["metadata"]["labels"]):
            assert labels["app.kubernetes.io/component"] == part
            assert labels["app.kubernetes.io/instance"] == name


def test_the_driver_account_may_manage_only_pods_services_configmaps_and_claims_in_its_namespace():
    objects = dict(spark_driver_objects("team"))
    assert {k: v["metadata"]["namespace"] for k, v in objects.items()} == {
        "ServiceAccount": "team", "Role": "team", "RoleBinding": "team"}
    (rule,) = objects["Role"]["rules"]
    assert rule["apiGroups"] == [""] and sorted(rule["resources"]) == [
        "configmaps", "persistentvolumeclaims", "pods", "services"]
    assert objects["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": SPARK_DRIVER_ACCOUNT, "namespace": "team"}]
    assert objects["RoleBinding"]["roleRef"]["kind"] == "Role"  # never a ClusterRole


def test_an_rsa_client_certificate_is_signed_by_the_cluster_ca(tmp_path):
    pki = create_cluster_pki(tmp_path / "pki", "c1")
    issue_client_cert(pki, "sandbox-spark-operator", ("system:masters",), tmp_path / "c.crt", tmp_path / "c.key",
                      rsa_key=True)
    key = serialization.load_pem_private_key((tmp_path / "c.key").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert (tmp_path / "c.key").read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    cert = x509.load_pem_x509_certificate((tmp_path / "c.crt").read_bytes())
    ca = x509.load_pem_x509_certificate(pki.cert("ca").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "O=system:masters,CN=sandbox-spark-operator"
