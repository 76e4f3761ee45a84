"""What test_resetd_ldap.py's cases share: slapd with its access log, mfa-resetd under
nss_wrapper, the client as other uids, the directory seen as root and as a host, and the
setup (people, tokens, configs, users and groups)."""
import base64
import calendar
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slapd_fixture as fx  # noqa: E402
from ldap_harness import SECRET_B32  # noqa: E402

RESETD = os.environ.get("MFA_RESETD", "")
RESET = os.environ.get("MFA_RESET", "")
PDRIVER = os.environ.get("POLICY_DRIVER", "")
NSS_WRAPPER = os.environ.get("NSS_WRAPPER_LIB", "")
RECOVERY = "AAAA-BBBB-CCCC-DDDD"
ENROLLED = ["alice", "bob", "carol", "dave", "erin"]  # the fixture's people, enrolled here
BULK = ["p%03d" % i for i in range(160)]  # more people, enrolled straight into the directory
UIDS = {"root": 0, "admin1": 2001, "mallory": 2030}
DOWN_MS = 1000  # the directory-down cases' timeout
BULK_SECRET = b"0123456789abcdefghij"



class LoggingSlapd(fx.Slapd):
    """The fixture's slapd in the foreground with its stats log (every BIND, SRCH, MOD)."""

    def launch(self):
        d = self.dir
        if os.path.exists(f"{d}/slapd.pid"):
            os.unlink(f"{d}/slapd.pid")
        self.log = f"{d}/slapd.log"
        self.proc = subprocess.Popen(
            ["slapd", "-d", "stats", "-F", f"{d}/slapd.d", "-h",
             f"{self.ldapi} {self.ldaps}/ {self.ldap}/"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = subprocess.run(["ldapwhoami", "-Y", "EXTERNAL", "-H", self.ldapi],
                               capture_output=True, env=self.env())
            if r.returncode == 0:
                self.pid = self.proc.pid
                return
            time.sleep(0.05)
        raise RuntimeError("slapd did not answer within 20 s")

    def stop(self):
        super().stop()
        if getattr(self, "proc", None):
            self.proc.wait(timeout=10)

    def kill(self):
        super().kill()
        self.proc.wait(timeout=10)

    def mark(self):
        return os.path.getsize(self.log)

    def ops_since(self, mark):
        """[(conn, op, verb, rest)] logged after mark, and {conn: bind DN}."""
        with open(self.log, errors="replace") as f:
            f.seek(mark)
            text = f.read()
        ops, binds = [], {}
        for m in re.finditer(r"conn=(\d+) op=(\d+) (BIND|SRCH|MOD|ADD|DEL|CMPR?) (.*)", text):
            conn, op, verb, rest = m.groups()
            ops.append((conn, op, verb, rest))
            b = re.match(r'dn="([^"]*)" method', rest)
            if verb == "BIND" and b:
                binds[conn] = b.group(1).lower()
        results = {(c, o): n for c, o, n in
                   re.findall(r"conn=(\d+) op=(\d+) SEARCH RESULT .*?nentries=(\d+)", text)}
        return ops, binds, results

    def rootdump(self, dn):
        """Every attribute of dn, as the rootDN sees it (the ACLs bypassed)."""
        p = self.tool("ldapsearch", None, None, ["-Y", "EXTERNAL", "-Q", "-LLL", "-o",
                                                 "ldif-wrap=no", "-b", dn, "-s", "base"])
        assert p.returncode == 0, p.stderr
        return attrs(p.stdout)


def attrs(ldif):
    out = {}
    for line in ldif.splitlines():
        m = re.match(r"([A-Za-z]+)(::?) ?(.*)", line)
        if m and m.group(1) != "dn":
            out.setdefault(m.group(1), []).append(m.group(3))
    return out


def gentime_age(v):
    return time.time() - calendar.timegm(time.strptime(v, "%Y%m%d%H%M%SZ"))


class Daemon:
    def __init__(self, tmp, cfg):
        self.tmp, self.cfg = tmp, cfg
        self.sock = os.path.join(tmp, "resetd.sock")
        self.log = os.path.join(tmp, "daemon.log")
        self.proc = None

    def start(self):
        env = dict(os.environ, LD_PRELOAD=NSS_WRAPPER, LDAPNOINIT="1",
                   NSS_WRAPPER_PASSWD=os.path.join(self.tmp, "passwd"),
                   NSS_WRAPPER_GROUP=os.path.join(self.tmp, "group"),
                   NSS_WRAPPER_DISABLE_DEEPBIND="1")
        env.setdefault("ASAN_OPTIONS", "verify_asan_link_order=0")
        self.proc = subprocess.Popen(
            [RESETD, "--config", self.cfg, "--socket", self.sock, "--foreground",
             "--log-stderr"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"))
        for _ in range(1000):
            assert self.proc.poll() is None, "daemon exited: " + self.logtext()
            if "event=start" in self.logtext():
                return
            time.sleep(0.01)
        raise RuntimeError("daemon did not start: " + self.logtext())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def logtext(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def run(self, user, *args, input=None, timeout=120):
        uid = UIDS[user]
        cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups", RESET,
               "--socket", self.sock] + list(args)
        return subprocess.run(cmd, input=input, capture_output=True, text=True,
                              start_new_session=True, timeout=timeout)


def expect(p, rc, what):
    assert p.returncode == rc, "%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
        what, p.returncode, rc, p.stdout[-3000:], p.stderr[-2000:])


def pdriver(cfg, *args):
    p = subprocess.run([PDRIVER, cfg] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, LDAPNOINIT="1"))
    kv = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    assert not p.stderr, p.stderr[-2000:]  # a sanitizer's report fails the case
    return p.returncode, kv


def host_view(s, user):
    """The token as host-b's identity reads it with ldapsearch."""
    p = s.tool("ldapsearch", fx.host_dn("host-b"), "host-b-secret",
               ["-LLL", "-o", "ldif-wrap=no", "-b", fx.token_dn(user), "-s", "base"])
    assert p.returncode == 0, p.stderr
    return attrs(p.stdout)


def all_tokens(s):
    return {u: s.rootdump(fx.token_dn(u)) for u in ENROLLED + BULK[:5]}


def set_timeout(e, ms):
    with open(e.cfg) as f:
        text = f.read()
    with open(e.cfg, "w") as f:
        f.write(re.sub(r"timeout_ms = \d+;", "timeout_ms = %d;" % ms, text))


def assert_all_directory_failures(p, names):
    for u in names:
        assert re.search(r"^%s: failed: cannot reach the MFA directory \(directory\)" % u,
                         p.stdout, re.M), p.stdout
    assert "0 succeeded, %d failed" % len(names) in p.stdout, p.stdout




def nss_files(tmp):
    users = [("root", 0), ("admin1", 2001), ("mallory", 2030), ("boss", 2020)]
    users += [(u, 2010 + i) for i, u in enumerate(ENROLLED + ["frank", "gina"])]
    users += [(u, 5000 + i) for i, u in enumerate(BULK)]
    with open(os.path.join(tmp, "passwd"), "w") as f:
        for u, uid in users:
            f.write("%s:x:%d:%d:%s:/nonexistent:/bin/sh\n" % (u, uid, uid, u))
    with open(os.path.join(tmp, "group"), "w") as f:
        for u, uid in users:
            f.write("%s:x:%d:\n" % (u, uid))
        f.write("mfa-admins:x:3001:admin1\nmfa-users:x:3002:%s\ncontractors:x:3003:alice,carol\n"
                "executives:x:3004:boss\n" % ",".join(ENROLLED))


def bulk_ldif():
    """gina: a person without a token; p000..: people with enrolled tokens."""
    secret = base64.b64encode(BULK_SECRET).decode()
    def person(u, uid, link):
        return (f"dn: {fx.person_dn(u)}\nobjectClass: inetOrgPerson\n"
                f"objectClass: posixAccount\n{link}uid: {u}\ncn: {u}\nsn: {u}\n"
                f"uidNumber: {uid}\ngidNumber: {uid}\nhomeDirectory: /nonexistent\n")
    out = [person("gina", 2016, "")]
    for i, u in enumerate(BULK):
        out.append(person(u, 5000 + i,
                          f"objectClass: oathTOTPUser\noathTOTPToken: {fx.token_dn(u)}\n"))
        out.append(
            f"dn: {fx.token_dn(u)}\nobjectClass: device\nobjectClass: oathTOTPToken\n"
            f"objectClass: oathTOTPParams\nobjectClass: pamTotpToken\ncn: {u}\n"
            f"owner: {fx.person_dn(u)}\noathTOTPParams: {fx.token_dn(u)}\noathOTPLength: 6\n"
            "oathHMACAlgorithm: 1.2.840.113549.2.7\noathTOTPTimeStepPeriod: 30\n"
            "oathTOTPTimeStepWindow: 1\npamTotpGeneration: 1\noathFailureCount: 0\n"
            f"oathSecret:: {secret}\npamTotpStatus: enrolled\n"
            "oathSecretTime: 20261201000000Z\noathTOTPLastTimeStep: 1\n")
    return "\n".join(out)


def setup(e, tmp):
    s = e.s
    p = s.tool("ldapadd", None, None, ["-Y", "EXTERNAL", "-Q"], stdin=bulk_ldif())
    assert p.returncode == 0, p.stderr
    e.a = e.config("host-a", dn=fx.host_dn("host-a"))
    e.b = e.config("host-b", dn=fx.host_dn("host-b"))
    e.c = e.config("host-c", dn=fx.host_dn("host-c"))
    for cfg in (e.a, e.b):
        with open(cfg, "a") as f:
            f.write("lockout = { max_failures = 5; lock_seconds = 600; };\n")
    step = int(time.time()) // 30
    for u in ENROLLED:
        rc, kv = pdriver(e.a, "claim", u, SECRET_B32, step - 2, RECOVERY)
        assert rc == 0, (u, kv)
    # mfa-resetd's config: a host's file with the reset identity; the state directory
    # does not exist (the ldap store must never need it)
    e.cfg = e.config("resetd", dn=fx.host_dn("host-b"), reset_dn=fx.RESET_DN)
    with open(e.cfg, "a") as f:
        f.write('state_dir = "%s/no-such-state-dir";\n' % tmp)
        f.write('enforce = { groups = [ "mfa-users" ]; };\n')
        f.write('reset = { admin_groups = [ "mfa-admins" ]; socket = "%s/resetd.sock";\n'
                '  allow_self_reset = false; protected_groups = [ "executives" ]; };\n' % tmp)
    nss_files(tmp)
    e.d = Daemon(tmp, e.cfg)
    e.d.start()
