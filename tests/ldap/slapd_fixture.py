"""A throwaway slapd for the ldap suite: everything under one temp dir, nothing of the
host's LDAP configuration touched (-F points at our own cn=config; LDAPNOINIT keeps the
client tools off /etc/ldap/ldap.conf and ~/.ldaprc).

It runs as root (the test suite does), loads back_mdb and the otp module (which registers
the OATH-LDAP schema), our schema and the shipped example ACLs from etc/ldap/, listens on
an ldapi:// socket in the temp dir and on ldaps://127.0.0.1:<free port> with a server
certificate from a CA made here, and is stopped by its pid, even on failure (use `with`).
"""
import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

SUFFIX = "dc=example,dc=test"
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
HOSTS = ["host-a", "host-b", "host-c", "host-d"]
RESETTER = "resetd"
# Test passwords only: this directory lives for one test run.
PASSWORD = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw",
            "erin": "erin-pw"}


def host_dn(h):
    return "cn=%s,ou=hosts,%s" % (h, SUFFIX)


def person_dn(p):
    return "uid=%s,ou=people,%s" % (p, SUFFIX)


def token_dn(p):
    return "cn=%s,ou=tokens,%s" % (p, SUFFIX)


RESET_DN = "cn=%s,ou=mfa-reset,%s" % (RESETTER, SUFFIX)


def enrolled_person_ldif(name, secret, **attrs):
    """A person linked to an enrolled token, as the rootDN or another tool would write them
    (changetype add); attrs replace, add (name -> value) or leave out (name -> None) token
    attributes."""
    tok = {"objectClass": ["device", "oathTOTPToken", "oathTOTPParams", "pamTotpToken"],
           "cn": name, "owner": person_dn(name), "oathTOTPParams": token_dn(name),
           "oathOTPLength": "6", "oathHMACAlgorithm": "1.2.840.113549.2.7",
           "oathTOTPTimeStepPeriod": "30", "oathTOTPTimeStepWindow": "1",
           "pamTotpStatus": "enrolled", "pamTotpGeneration": "1", "oathFailureCount": "0"}
    tok.update(attrs)
    lines = ["dn: %s" % person_dn(name), "changetype: add", "objectClass: inetOrgPerson",
             "objectClass: posixAccount", "objectClass: oathTOTPUser", "uid: %s" % name,
             "cn: %s" % name, "sn: %s" % name, "uidNumber: 2999", "gidNumber: 2000",
             "homeDirectory: /home/%s" % name, "oathTOTPToken: %s" % token_dn(name), "",
             "dn: %s" % token_dn(name), "changetype: add",
             "oathSecret:: %s" % base64.b64encode(secret).decode()]
    for k, v in tok.items():
        if v is not None:
            lines += ["%s: %s" % (k, x) for x in (v if isinstance(v, list) else [v])]
    return "\n".join(lines) + "\n"


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from loopback import free_port  # noqa: E402,F401 (the suites call fx.free_port)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def shipped_acl(attr="olcAccess"):
    """The values of attr in etc/ldap/acl.ldif, continuation lines joined."""
    vals, cur = [], None
    with open(os.path.join(SRC, "etc", "ldap", "acl.ldif")) as f:
        for line in f.read().splitlines():
            if line.startswith(" ") and cur is not None:
                cur += line[1:]
                continue
            if cur is not None:
                vals.append(cur)
                cur = None
            if line.startswith(attr + ":"):
                cur = line[len(attr) + 1:].strip()
    if cur is not None:
        vals.append(cur)
    return vals


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 signed by it, and a second CA that signed
    nothing (the wrong-CA test)."""
    def ca(name):
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=pam_totp test %s" % name, "-keyout", f"{d}/{name}.key",
             "-out", f"{d}/{name}.pem"])
    ca("ca")
    ca("other-ca")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr"])
    run(["openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem",
         "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-extfile",
         f"{d}/ext.cnf", "-out", f"{d}/server.pem"])
    os.chmod(f"{d}/server.key", 0o600)
    # A client certificate for host-c: SASL EXTERNAL over TLS (olcAuthzRegexp maps it).
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=host-c-cert",
         "-keyout", f"{d}/client.key", "-out", f"{d}/client.csr"])
    run(["openssl", "x509", "-req", "-in", f"{d}/client.csr", "-CA", f"{d}/ca.pem",
         "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-out", f"{d}/client.pem"])
    os.chmod(f"{d}/client.key", 0o600)


def config_ldif(d, with_otp):
    root = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
    schema = "".join("include: file:///etc/ldap/schema/%s.ldif\n\n" % s
                     for s in ("core", "cosine", "nis", "inetorgperson"))
    acl = "".join("olcAccess: %s\n" % a for a in shipped_acl())
    acl += "".join("olcLimits: %s\n" % a for a in shipped_acl("olcLimits"))
    otp = ("dn: olcOverlay={0}otp,olcDatabase={1}mdb,cn=config\n"
           "objectClass: olcOverlayConfig\nolcOverlay: {0}otp\n\n") if with_otp else ""
    with open(os.path.join(SRC, "etc", "ldap", "pam_totp.ldif")) as f:
        ours = "".join(l for l in f if not l.startswith("#"))
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcTLSCACertificateFile: {d}/ca.pem
olcTLSCertificateFile: {d}/server.pem
olcTLSCertificateKeyFile: {d}/server.key
olcTLSVerifyClient: allow
olcAuthzRegexp: {{0}}gidNumber=[0-9]+\\+uidNumber=4242,cn=peercred,cn=external,cn=auth {host_dn("host-d")}
olcAuthzRegexp: {{1}}^cn=host-c-cert$ {host_dn("host-c")}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {{0}}back_mdb
olcModuleLoad: {{1}}otp

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schema}{ours}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 50

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact={root} manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {d}/db
olcSuffix: {SUFFIX}
olcRootDN: {root}
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcSizeLimit: 50
{acl}
{otp}"""


def data_ldif():
    out = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
           "dc: example\no: example\n"]
    for ou in ("people", "tokens", "hosts", "mfa-reset"):
        out.append(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n")
    for i, p in enumerate(PEOPLE):
        # erin has no oathTOTPUser link: her token is found by the cn=<name> convention.
        link = "" if p == "erin" else \
            f"objectClass: oathTOTPUser\noathTOTPToken: {token_dn(p)}\n"
        out.append(f"dn: {person_dn(p)}\nobjectClass: inetOrgPerson\n"
                   f"objectClass: posixAccount\n{link}uid: {p}\ncn: {p}\nsn: {p}\n"
                   f"uidNumber: {2000 + i}\ngidNumber: 2000\nhomeDirectory: /home/{p}\n"
                   f"userPassword: {PASSWORD[p]}\n")
    for h in HOSTS + [RESETTER]:
        dn = RESET_DN if h == RESETTER else host_dn(h)
        out.append(f"dn: {dn}\nobjectClass: applicationProcess\n"
                   f"objectClass: simpleSecurityObject\ncn: {h}\nuserPassword: {h}-secret\n")
    return "\n".join(out)


class Slapd:
    def __init__(self, tmpdir, with_otp=True):
        self.dir = tmpdir
        self.with_otp = with_otp
        self.sock = os.path.join(tmpdir, "ldapi")
        self.ldapi = "ldapi://" + urllib.parse.quote(self.sock, safe="")
        self.pick_ports()
        self.ca = os.path.join(tmpdir, "ca.pem")
        self.other_ca = os.path.join(tmpdir, "other-ca.pem")
        self.pid = None

    def pick_ports(self):
        self.port = free_port()
        other = free_port()
        while other == self.port:
            other = free_port()
        self.ldaps = "ldaps://127.0.0.1:%d" % self.port
        self.ldap = "ldap://127.0.0.1:%d" % other  # StartTLS

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        d = self.dir
        os.makedirs(f"{d}/slapd.d", exist_ok=True)
        os.makedirs(f"{d}/db", exist_ok=True)
        make_certs(d)
        with open(f"{d}/config.ldif", "w") as f:
            f.write(config_ldif(d, self.with_otp))
        with open(f"{d}/data.ldif", "w") as f:
            f.write(data_ldif())
        run(["slapadd", "-q", "-n0", "-F", f"{d}/slapd.d", "-l", f"{d}/config.ldif"])
        run(["slapadd", "-q", "-n1", "-F", f"{d}/slapd.d", "-l", f"{d}/data.ldif"])
        # Any uid may connect to the socket; who they are is decided by the bind.
        os.chmod(d, 0o755)
        # A port free_port() saw free may be taken before slapd binds it (the suites run at
        # once, and every outgoing connection takes an ephemeral port from the same range):
        # slapd then exits at once, and other ports are tried.
        for attempt in range(5):
            try:
                self.launch()
                return
            except subprocess.CalledProcessError as e:
                if attempt == 4:
                    raise AssertionError("slapd did not start: %s" % e.stderr[-2000:])
                self.pick_ports()

    def launch(self):
        """Starts slapd on the database made by start() (again after kill())."""
        d = self.dir
        if os.path.exists(f"{d}/slapd.pid"):
            os.unlink(f"{d}/slapd.pid")
        run(["slapd", "-F", f"{d}/slapd.d", "-h", f"{self.ldapi} {self.ldaps}/ {self.ldap}/"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.pid is None and os.path.exists(f"{d}/slapd.pid"):
                with open(f"{d}/slapd.pid") as f:
                    txt = f.read().strip()
                self.pid = int(txt) if txt else None
            r = subprocess.run(["ldapwhoami", "-Y", "EXTERNAL", "-H", self.ldapi],
                               capture_output=True, env=self.env())
            if r.returncode == 0 and self.pid:
                return
            time.sleep(0.05)
        raise RuntimeError("slapd did not answer within 20 s")

    def env(self):
        e = dict(os.environ, LDAPNOINIT="1")
        return e

    def stop(self):
        if not self.pid:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGCONT)  # a test may have stopped it
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def kill(self):
        """Kills slapd outright (a crashed directory); launch() brings it back."""
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/stat" % self.pid) as f:
                    if f.read().split(") ")[1].startswith("Z"):
                        break  # dead, waiting for init to reap it
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.02)
        self.pid = None

    def pause(self):
        """Stops slapd and returns once every one of its threads has stopped. kill() only
        queues SIGSTOP: one thread takes it and then stops the others, so on a loaded machine
        a worker could still answer a request sent just after kill() returned (a CI run saw a
        login stored 30 ms after the "pause")."""
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not self._all_threads_stopped():
            assert time.monotonic() < deadline, "slapd did not stop within 10 s"
            time.sleep(0.005)

    def _all_threads_stopped(self):
        task = "/proc/%d/task" % self.pid
        for tid in os.listdir(task):
            try:
                with open("%s/%s/stat" % (task, tid)) as f:
                    state = f.read().rsplit(") ", 1)[1][0]
            except FileNotFoundError:
                continue  # a thread that ended
            if state not in "tT":
                return False
        return True

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)

    def as_root(self, ldif):
        """ldapmodify as the database's rootDN (the ACLs bypassed: an administrator or
        another tool writing the directory)."""
        r = self.tool("ldapmodify", None, None, ["-Y", "EXTERNAL"], stdin=ldif)
        assert r.returncode == 0, r.stderr

    def tool(self, prog, bind_dn, password, args, uri=None, stdin=None, tls_ca=None):
        """Runs an ldap-utils program as bind_dn (None: anonymous); returns the result."""
        e = self.env()
        if tls_ca:
            e["LDAPTLS_CACERT"] = tls_ca
        # root over ldapi with -Y EXTERNAL is the database's rootDN (bypasses the ACLs)
        cmd = [prog, "-H", uri or self.ldapi] + ([] if "-Y" in args else ["-x"])
        if bind_dn:
            cmd += ["-D", bind_dn, "-w", password]
        return subprocess.run(cmd + args, input=stdin, capture_output=True, text=True, env=e)


if __name__ == "__main__":
    import sys
    import tempfile
    with tempfile.TemporaryDirectory() as t, Slapd(t) as s:
        print("slapd pid %d on %s and %s" % (s.pid, s.ldapi, s.ldaps))
        if len(sys.argv) > 1:
            subprocess.run(sys.argv[1:], env=dict(s.env(), LDAP_URI=s.ldapi))
