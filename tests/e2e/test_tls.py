"""Transport security over real loopback gRPC: server TLS, mutual TLS, plaintext only on request.

Certificates are made per test run with `cryptography` (a CA, a server certificate for
127.0.0.1/localhost, a client certificate); the agent's real Uplink talks to a real
collector built by collector.app.build.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.common.config import ByteSize, ConfigError, Seconds
from agent.config import CollectorSection
from agent.records import HostInventory, Priority, Snapshot, Volume
from agent.uplink.backoff import Backoff
from agent.uplink.convert import encode_body
from agent.uplink.spool import Spool
from collector.app import Collector, build
from collector.config import (
    CollectorConfig,
    ConsoleSection,
    IngestSection,
    ServerSection,
    StoreSection,
)
from tests.helpers.procs import BIN, ROOT, env
from tests.helpers.uplink import uplink as make_uplink

NO_CONSOLE = ConsoleSection(enabled=False)  # the console has its own tests (tests/collector/web)
# In process: pytest runs gRPC threads, so a worker would be a fresh interpreter (seconds).
IN_PROCESS = IngestSection(workers=0)
INVENTORY = HostInventory(hostname="tls-host", os_family="linux")


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    san: list[x509.GeneralName],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, ca_key = _ca("rdiag test CA")
    other, _ = _ca("somebody else's CA")
    server, server_key = _leaf(
        "collector",
        ca,
        ca_key,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client, client_key = _leaf("agent-1", ca, ca_key, [x509.DNSName("agent-1")])
    return Pki(
        ca=_write_cert(d / "ca.pem", ca),
        server_cert=_write_cert(d / "server.pem", server),
        server_key=_write_key(d / "server.key", server_key),
        client_cert=_write_cert(d / "client.pem", client),
        client_key=_write_key(d / "client.key", client_key),
        other_ca=_write_cert(d / "other-ca.pem", other),
    )


def _collector(tmp: Path, pki: Pki, *, mutual: bool) -> Collector:
    server = ServerSection(
        listen="127.0.0.1:0",
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        client_ca=pki.ca if mutual else None,
        grace=Seconds(1),
    )
    store = StoreSection(url=f"sqlite:///{tmp}/c.db")
    return build(CollectorConfig(server=server, store=store, console=NO_CONSOLE, ingest=IN_PROCESS))


async def _deliver(tmp: Path, section: CollectorSection, *, wait_s: float) -> tuple[int, str]:
    """Spool one snapshot, run the real Uplink for up to wait_s; (records left, last error)."""
    spool = Spool(tmp / f"spool-{id(section)}.db", 1 << 20)
    snap = Snapshot(1, INVENTORY, (Volume("/", "/dev/vda", "ext4", 100, 10, 90),))
    spool.append(Priority.NORMAL, "snapshot", encode_body(snap, Priority.NORMAL))
    stop = asyncio.Event()
    uplink = make_uplink(section, spool, stop, agent_id="agent-1", inventory=INVENTORY,
                         backoff=Backoff(0.05, 0.2))  # fmt: skip
    task = asyncio.create_task(uplink.run())
    deadline = asyncio.get_running_loop().time() + wait_s
    while spool.status().records and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    left = spool.status().records
    spool.close()
    return left, uplink.stats.last_error


def _section(port: int, **kw: object) -> CollectorSection:
    return CollectorSection(
        address=f"127.0.0.1:{port}", connect_timeout=Seconds(5),
        max_batch_bytes=ByteSize(1 << 20), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_server_tls_delivers_and_an_unknown_ca_is_refused(tmp_path: Path, pki: Pki) -> None:
    async def main() -> None:
        col = _collector(tmp_path, pki, mutual=False)
        port = await col.start()
        try:
            left, _ = await _deliver(tmp_path, _section(port, ca_cert=pki.ca), wait_s=20)
            assert left == 0
            assert col.store.telemetry_count() == 1
            # An agent that trusts another CA must not talk to this collector.
            left, error = await _deliver(tmp_path, _section(port, ca_cert=pki.other_ca), wait_s=2)
            assert left == 1 and "UNAVAILABLE" in error
            # Nor may a plaintext agent.
            left, error = await _deliver(tmp_path, _section(port, insecure=True), wait_s=2)
            assert left == 1 and error
            assert col.store.telemetry_count() == 1
        finally:
            await col.stop()

    asyncio.run(main())


def test_mutual_tls_requires_a_client_certificate(tmp_path: Path, pki: Pki) -> None:
    async def main() -> None:
        col = _collector(tmp_path, pki, mutual=True)
        port = await col.start()
        try:
            left, error = await _deliver(tmp_path, _section(port, ca_cert=pki.ca), wait_s=2)
            assert left == 1 and "UNAVAILABLE" in error
            with_cert = _section(
                port, ca_cert=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key
            )
            left, _ = await _deliver(tmp_path, with_cert, wait_s=20)
            assert left == 0
            assert col.store.telemetry_count() == 1
        finally:
            await col.stop()

    asyncio.run(main())


def test_collector_without_certificates_needs_insecure(tmp_path: Path) -> None:
    async def main() -> None:
        col = build(
            CollectorConfig(
                server=ServerSection(listen="127.0.0.1:0"),
                store=StoreSection(url=f"sqlite:///{tmp_path}/c.db"),
                console=NO_CONSOLE,
                ingest=IN_PROCESS,
            )
        )
        try:
            with pytest.raises(ConfigError, match=r"server\.tls_cert: .*--insecure"):
                await col.start()
        finally:
            await col.stop()

    asyncio.run(main())


def test_a_file_that_is_not_pem_is_a_config_error(tmp_path: Path, pki: Pki) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")

    async def main() -> None:
        col = build(
            CollectorConfig(
                server=ServerSection(listen="127.0.0.1:0", tls_cert=bogus, tls_key=pki.server_key),
                store=StoreSection(url=f"sqlite:///{tmp_path}/c.db"),
                console=NO_CONSOLE,
                ingest=IN_PROCESS,
            )
        )
        try:
            with pytest.raises(ConfigError, match=r"server\.tls_cert: .*bogus\.pem is not a PEM"):
                await col.start()
        finally:
            await col.stop()

    asyncio.run(main())


def test_the_real_agent_process_delivers_over_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    """`rdiag-agent run --once` as installed: TLS is gRPC's own, with Python's ssl not even
    loaded in the agent (agent/launch.py)."""
    fixture = ROOT / "tests" / "fixtures" / "hosts" / "linux-debian12-vm"

    async def main() -> None:
        col = _collector(tmp_path, pki, mutual=True)
        port = await col.start()
        try:
            tls_env = env() | {
                "RDIAG_AGENT_COLLECTOR__CA_CERT": str(pki.ca),
                "RDIAG_AGENT_COLLECTOR__CLIENT_CERT": str(pki.client_cert),
                "RDIAG_AGENT_COLLECTOR__CLIENT_KEY": str(pki.client_key),
            }
            proc = await asyncio.create_subprocess_exec(
                str(BIN / "rdiag-agent"), "run", "--once", "--collector", f"127.0.0.1:{port}",
                "--source", str(fixture), "--state-dir", str(tmp_path / "state"),
                "--agent-id", "tls-agent", env=tls_env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, err.decode()
            host = col.store.get_host("tls-agent")
            assert host is not None and host.inventory.hostname == "vm"
        finally:
            await col.stop()

    asyncio.run(main())
