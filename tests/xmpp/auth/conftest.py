"""Services the auth tests log in against, started on loopback ephemeral ports: a real slapd
(Debian's) filled with ``ldapadd``, an ASAP key server, and a Matrix UVS."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from jitsi_py.common.tls import ensure_self_signed
from jitsi_py.xmpp.auth.matrix import jitsi_room_of


async def serve(app: web.Application):
    """Run ``app`` on 127.0.0.1; yields its base URL until the caller is done."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# ---- LDAP ----

SUFFIX = "dc=example,dc=org"
ADMIN = f"cn=admin,{SUFFIX}"
ADMIN_PW = "admin-secret"
READER = f"cn=reader,{SUFFIX}"
READER_PW = "reader-secret"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

USERS_LDIF = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: {READER}
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: reader
userPassword: {READER_PW}

dn: uid=mireille,ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: mireille
cn: Mireille
sn: Mathieu
mail: m@example.com
userPassword: correct horse

dn: uid=bob,ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
userPassword: bob-pass

dn: uid=twin,ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: twin
cn: Twin One
sn: T
userPassword: twin-pass

dn: cn=twin-copy,ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: twin
cn: twin-copy
sn: T
userPassword: twin-pass
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"slapd exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"slapd did not listen on {port}")


def slapd_config(root: Path, tls: list[str]) -> Path:
    (root / "db").mkdir()
    conf = root / "slapd.conf"
    conf.write_text("\n".join([
        *(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS),
        f"pidfile {root}/slapd.pid",
        "modulepath /usr/lib/ldap",
        "moduleload back_mdb",
        *tls,
        "database mdb",
        f'suffix "{SUFFIX}"',
        f'rootdn "{ADMIN}"',
        f"rootpw {ADMIN_PW}",
        f"directory {root}/db",
        "maxsize 10485760",
        # The reader may read password hashes: what LDAP_AUTH_METHOD=custom needs.
        f'access to attrs=userPassword by self read by dn.exact="{READER}" read by anonymous auth by * none',
        "access to * by * read",
        "",
    ]))
    return conf


@contextmanager
def running_slapd(root: Path, tls: list[str]):
    """slapd on ldap:// and ldaps:// loopback ports, empty; yields the two URLs."""
    assert shutil.which("slapd") or Path("/usr/sbin/slapd").exists(), "slapd is not installed"
    conf = slapd_config(root, tls)
    plain_port, tls_port = free_port(), free_port()
    proc = subprocess.Popen(
        ["/usr/sbin/slapd", "-d", "0", "-f", str(conf),
         "-h", f"ldap://127.0.0.1:{plain_port}/ ldaps://127.0.0.1:{tls_port}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(plain_port, proc)
        wait_for_port(tls_port, proc)
        yield f"ldap://127.0.0.1:{plain_port}", f"ldaps://127.0.0.1:{tls_port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ldapadd(url: str, ldif: str) -> None:
    subprocess.run(["ldapadd", "-x", "-H", url, "-D", ADMIN, "-w", ADMIN_PW],
                   input=ldif.encode(), check=True, capture_output=True, timeout=30)


def slappasswd(scheme: str, password: str) -> str:
    """A userPassword value made by OpenLDAP's own tool, not by the code under test."""
    args = ["slappasswd", "-h", scheme, "-s", password]
    if scheme == "{CRYPT}":
        args += ["-c", "$6$%.16s"]  # SHA-512 crypt; the bare default would be DES
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout.strip()


# One user per userPassword scheme saslauthd's custom method knows, each with this password.
SCHEMED_PASSWORD = "pa55 w0rd!"
SCHEMES = {"ssha": "{SSHA}", "sha": "{SHA}", "smd5": "{SMD5}", "md5": "{MD5}", "crypt": "{CRYPT}",
           "clear": "{CLEARTEXT}"}


def schemed_users_ldif() -> str:
    entries = [
        f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: S\n"
        f"userPassword: {slappasswd(scheme, SCHEMED_PASSWORD)}\n"
        for uid, scheme in SCHEMES.items()
    ]
    entries.append(f"dn: uid=nopass,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: nopass\ncn: nopass\n"
                   "sn: N\n")
    # Two values, in this order; saslauthd compares the last one the server returns.
    entries.append(f"dn: uid=rotated,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: rotated\ncn: rotated\n"
                   f"sn: R\nuserPassword: {slappasswd('{SSHA}', 'old-pass')}\n"
                   f"userPassword: {slappasswd('{SSHA}', 'new-pass')}\n")
    return "\n".join(entries)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    """A throw-away directory: ldap:// (with STARTTLS) and ldaps:// on loopback, users from ldapadd."""
    root = tmp_path_factory.mktemp("slapd")
    cert, key = root / "cert.pem", root / "key.pem"
    ensure_self_signed(cert, key, ["127.0.0.1", "localhost"])
    with running_slapd(root, [f"TLSCertificateFile {cert}", f"TLSCertificateKeyFile {key}"]) as (plain, tls):
        ldapadd(plain, USERS_LDIF + "\n" + schemed_users_ldif())
        yield {"plain": plain, "tls": tls, "cert": cert}


# ---- a directory that demands a client certificate ----

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(subject: str, issuer: tuple | None, *, ca: bool = False, ip: str | None = None) -> tuple:
    """(certificate, key) for ``subject``, signed by ``issuer`` (certificate, key), or self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(signer_cert.subject if signer_cert else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(signer_key, hashes.SHA256()), key


def write_pair(root: Path, name: str, pair: tuple) -> tuple[Path, Path]:
    cert, key = pair
    cert_path, key_path = root / f"{name}.crt", root / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def slapd_mtls(tmp_path_factory):
    """slapd with ``TLSVerifyClient demand``: only clients with a certificate from the test CA get in."""
    root = tmp_path_factory.mktemp("slapd-mtls")
    ca = issue("jitsi-py test CA", None, ca=True)
    ca_file, _ = write_pair(root, "ca", ca)
    server_cert, server_key = write_pair(root, "server", issue("127.0.0.1", ca, ip="127.0.0.1"))
    client = write_pair(root, "client", issue("meet.jitsi", ca))
    stranger = write_pair(root, "stranger", issue("meet.jitsi", issue("another CA", None, ca=True)))
    tls = [f"TLSCACertificateFile {ca_file}", f"TLSCertificateFile {server_cert}",
           f"TLSCertificateKeyFile {server_key}", "TLSVerifyClient demand"]
    with running_slapd(root, tls) as (plain, ldaps):
        # ldapadd must show a certificate too; the admin uses the test client's.
        env = {**os.environ, "LDAPTLS_CACERT": str(ca_file), "LDAPTLS_CERT": str(client[0]),
               "LDAPTLS_KEY": str(client[1])}
        subprocess.run(["ldapadd", "-x", "-H", ldaps, "-D", ADMIN, "-w", ADMIN_PW], input=USERS_LDIF.encode(),
                       check=True, capture_output=True, timeout=30, env=env)
        yield {"plain": plain, "tls": ldaps, "ca": ca_file, "client": client, "stranger": stranger}


# ---- ASAP key server (RS256) ----

def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sha(kid: str) -> str:
    return hashlib.sha256(kid.encode()).hexdigest()


@pytest.fixture(scope="module")
def signing_key():
    return rsa_key()


@pytest.fixture
async def key_server(signing_key):
    """Serves <sha256(kid)>.pem for the keys it holds; records every path asked for."""
    keys = {sha("key-1"): public_pem(signing_key)}
    requests: list[str] = []

    async def key(request: web.Request) -> web.Response:
        requests.append(request.path)
        name = request.match_info["name"]
        if name.endswith(".pem") and name[:-4] in keys:
            return web.Response(body=keys[name[:-4]])
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/keys/{name:.*}", key)
    async for base in serve(app):
        yield f"{base}/keys/", requests, keys


# ---- Matrix User Verification Service ----

ROOM_ID = "!qwertyasdfgh:matrix.example.org"
ROOM = jitsi_room_of(ROOM_ID)
UVS_SECRET = "uvs-shared-token"
# OpenID token -> (Matrix user, power level); membership and levels of the one room.
OPENID = {"oid-alice": ("@alice:matrix.example.org", 100), "oid-bob": ("@bob:matrix.example.org", 0),
          "oid-eve": ("@eve:matrix.example.org", 0)}
MEMBERS = {"@alice:matrix.example.org", "@bob:matrix.example.org"}


@pytest.fixture
async def uvs():
    """The UVS API: POST /verify/user_in_room, bearer-protected, records each request body."""
    seen: list[dict] = []

    async def user_in_room(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {UVS_SECRET}":
            return web.json_response({"error": "unauthorized"}, status=403)
        body = await request.json()
        seen.append(body)
        if not body.get("token") or not body.get("room_id"):
            return web.Response(status=400, text="Invalid request")
        user = OPENID.get(body["token"])
        if user is None:
            return web.json_response({"results": {"user": False, "room_membership": None},
                                      "user_id": None, "power_levels": None})
        if body["room_id"] != ROOM_ID or user[0] not in MEMBERS:
            return web.json_response({"results": {"user": True, "room_membership": False},
                                      "user_id": user[0], "power_levels": None})
        return web.json_response({"results": {"user": True, "room_membership": True}, "user_id": user[0],
                                  "power_levels": {"user": user[1], "room": {"state_default": 50}}})

    app = web.Application()
    app.router.add_post("/uvs/verify/user_in_room", user_in_room)
    async for base in serve(app):
        yield f"{base}/uvs/", seen
