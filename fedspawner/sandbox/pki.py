"""Certificates for one sandbox cluster: a CA, serving and client certificates.

Each cluster has its own CA, as clusters of different organisations would. Keys are
ECDSA P-256 (fast to generate; accepted everywhere Kubernetes checks them), except for
clients whose TLS stack reads only RSA keys (the fabric8 Kubernetes client of
spark-submit rejects an ECDSA client key): ``issue_client_cert(..., rsa=True)``.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class ClusterPKI:
    """Paths of every credential file of one cluster."""

    dir: Path

    def cert(self, who: str) -> Path:
        """Certificate of ``who``: ca, apiserver, admin, kubelet-client or agent."""
        return self.dir / f"{who}.crt"

    def key(self, who: str) -> Path:
        """Private key of ``who`` (also ``sa``, the service-account signing key)."""
        return self.dir / f"{who}.key"

    @property
    def sa_public(self) -> Path:
        return self.dir / "sa.pub"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _name(common_name: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _issue(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool = False,
           server_ips: tuple[str, ...] = (), server_dns: tuple[str, ...] = (),
           client: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + VALIDITY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if (server_ips or server_dns) else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips] + [
            x509.DNSName(d) for d in server_dns]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def create_cluster_pki(directory: Path, cluster: str) -> ClusterPKI:
    """Write the CA, apiserver, admin, kubelet-client, agent and service-account keys."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = ClusterPKI(directory)
    ca_key = _key()
    ca_name = _name(f"fedspawner-sandbox-{cluster}-ca")
    ca_cert = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write_key(ca_key, pki.key("ca"))
    pki.cert("ca").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(stem: str, subject: x509.Name, **kwargs) -> None:
        key = _key()
        cert = _issue(subject, key, ca_name, ca_key, **kwargs)
        _write_key(key, directory / f"{stem}.key")
        (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    leaf("apiserver", _name("kube-apiserver"), server_ips=("127.0.0.1",),
         server_dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"))
    leaf("admin", _name("kubernetes-admin", "system:masters"), client=True)
    leaf("kubelet-client", _name("kube-apiserver-kubelet-client", "system:masters"), client=True)
    leaf("agent", _name(f"sandbox-node-agent-{cluster}"), server_ips=("127.0.0.1",), server_dns=("localhost",))
    sa_key = _key()
    _write_key(sa_key, pki.key("sa"))
    pki.sa_public.write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


def issue_serving_cert(pki: ClusterPKI, common_name: str, cert_path: Path, key_path: Path) -> None:
    """A serving certificate for 127.0.0.1 signed by the cluster's CA, for a local process
    (e.g. an operator's webhook server) that the apiserver calls by URL."""
    ca_key = serialization.load_pem_private_key(pki.key("ca").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.cert("ca").read_bytes())
    key = _key()
    cert = _issue(_name(common_name), key, ca_cert.subject, ca_key, server_ips=("127.0.0.1",),
                  server_dns=("localhost",))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    _write_key(key, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def issue_client_cert(pki: ClusterPKI, common_name: str, groups: tuple[str, ...], cert_path: Path,
                      key_path: Path, *, rsa_key: bool = False) -> None:
    """A client certificate signed by the cluster's CA: user ``common_name`` in ``groups``.

    ``rsa_key`` gives it an RSA key (PKCS#1 PEM) for clients that cannot read ECDSA keys.
    """
    ca_key = serialization.load_pem_private_key(pki.key("ca").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.cert("ca").read_bytes())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name),
             *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups)]
    key = _rsa_key() if rsa_key else _key()
    cert = _issue(x509.Name(attrs), key, ca_cert.subject, ca_key, client=True)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if rsa_key else serialization.PrivateFormat.PKCS8
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
