"""What the module cases (test_module.py) use: hosts as PAM services with their own configs
and identities, logins through pam_wrapper and nss_wrapper, codes from oathtool, the token
entry as the directory's rootDN sees it."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slapd_fixture as fx  # noqa: E402

PAM_SUCCESS = 0
PAM_AUTH_ERR = 7
PAM_AUTHINFO_UNAVAIL = 9
APP = "auth,acct,cred"
SHORT_MS = 1000  # the unreachable cases' timeout; asserted with room for a loaded machine
BOUND_S = 5.0
MAX_FAILURES = 10
UNREACHABLE = "The MFA directory cannot be reached"
TAG = "%d" % os.getpid()

PASSWD = "".join("%s:x:%d:%d:%s:/home/%s:/bin/sh\n" % (u, 2000 + i, 2000 + i, u, u)
                 for i, u in enumerate(fx.PEOPLE + ["frank"]))
GROUP = "mfa-users:x:3000:%s\n" % ",".join(fx.PEOPLE + ["frank"])

CONFIG = """issuer = "Fleet";
state_dir = "{state_dir}";
totp = {{ algorithm = "SHA1"; digits = 6; period = 30; window = 5; }};
enforce = {{ all = false; users = []; groups = [ "mfa-users" ]; exempt_groups = []; }};
enrollment = {{ allow = true; qr = false; recovery_codes = 3; reset_expires = 0; }};
lockout = {{ max_failures = {max_failures}; lock_seconds = 300; }};
store = "ldap";
ldap = {{
  uri = "{uri}";
  bind = "simple";
  bind_dn = "{dn}";
  bind_password_file = "{pwfile}";
  ca_file = "{ca}";
  person_base = "ou=people,{suffix}";
  token_base = "ou=tokens,{suffix}";
  timeout_ms = {timeout_ms};{extra}
}};
"""


class Result:
    def __init__(self, out, err, seconds=0.0):
        self.out, self.err, self.seconds = out, err, seconds
        m = re.search(r"^RESULT (\d+)", out, re.M)
        self.code = int(m.group(1)) if m else None
        self.info = re.findall(r"^INFO (.*)$", out, re.M)
        self.errors = re.findall(r"^ERROR (.*)$", out, re.M)
        self.log = re.findall(r"SYSLOG\(\d\): (.*)$", err, re.M)

    def logged(self, *words):
        return any(all(w in line for w in words) for line in self.log)

    def told(self, text):
        return any(text in m for m in self.errors)

    def __str__(self):
        return "code=%s in %.2f s\nstdout:\n%s\nstderr:\n%s" % (
            self.code, self.seconds, self.out, self.err[-4000:])


class Host:
    """One host: its own config, identity (password file), state dir and PAM service."""

    def __init__(self, tmp, name, dn, uri, ca, timeout_ms=10000, extra=""):
        self.name = name
        d = os.path.join(tmp, name)
        os.makedirs(os.path.join(d, "pam.d"))
        self.state_dir = os.path.join(d, "state")
        os.mkdir(self.state_dir, 0o700)
        pwfile = os.path.join(d, "ldap.pw")
        with open(pwfile, "w") as f:
            f.write(dn.split(",")[0][3:] + "-secret\n")
        os.chmod(pwfile, 0o600)
        self.config = os.path.join(d, "pam_totp.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(state_dir=self.state_dir, max_failures=MAX_FAILURES,
                                  uri=uri, dn=dn, pwfile=pwfile, ca=ca, suffix=fx.SUFFIX,
                                  timeout_ms=timeout_ms, extra=extra))
        self.service = "pam_totp_ldap_%s_%s" % (TAG, name)
        module = os.environ["PAM_TOTP_MODULE"]
        with open(os.path.join(d, "pam.d", self.service), "w") as f:
            f.write("auth required %s config=%s\n" % (module, self.config) +
                    "account required pam_permit.so\n" +
                    "account required %s config=%s\n" % (module, self.config))
        self.env = dict(os.environ)
        self.env.update({
            # libldap preloaded: libpam unloads pam_totp.so, and with it libldap and gnutls,
            # before LeakSanitizer looks, so their process-wide state (TLS, SASL) would show
            # as leaks nobody can name; loaded for good, it stays reachable as in sshd
            "LD_PRELOAD": "%s %s libldap-2.5.so.0" % (os.environ["PAM_WRAPPER_LIB"],
                                                       os.environ["NSS_WRAPPER_LIB"]),
            "PAM_WRAPPER": "1",
            "PAM_WRAPPER_SERVICE_DIR": os.path.join(d, "pam.d"),
            "PAM_WRAPPER_DEBUGLEVEL": "3",
            "NSS_WRAPPER_PASSWD": os.path.join(tmp, "passwd"),
            "NSS_WRAPPER_GROUP": os.path.join(tmp, "group"),
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "verify_asan_link_order=0"),
            "UID_WRAPPER_DISABLE_DEEPBIND": "1",
            "PAM_WRAPPER_DISABLE_DEEPBIND": "1",
            "NSS_WRAPPER_DISABLE_DEEPBIND": "1",
            "LDAPNOINIT": "1",
        })

    def argv(self, user, answers, ops):
        return [os.environ["PAM_DRIVER"], "-o", ops, self.service, user] + list(answers)

    def login(self, user, *answers, ops=APP):
        t0 = time.monotonic()
        p = subprocess.run(self.argv(user, answers, ops), env=self.env, capture_output=True,
                           text=True, timeout=120)
        r = Result(p.stdout, p.stderr, time.monotonic() - t0)
        assert p.returncode == 0 and r.code is not None, "driver failed\n%s" % r
        return r

    def start(self, user, *answers, ops=APP):
        """A login held at its code prompt (after answers, the "stdin" answer); answer()
        releases it."""
        p = subprocess.Popen(self.argv(user, list(answers) + ["stdin"], ops), env=self.env,
                             text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        seen = []
        line = p.stdout.readline()
        while line and not line.startswith("WAITING"):
            seen.append(line)
            line = p.stdout.readline()
        assert line, "login did not reach the prompt: %s" % "".join(seen)
        p.seen = "".join(seen)
        return p


def answer(p, text):
    t0 = time.monotonic()
    out, err = p.communicate(text + "\n", timeout=120)
    return Result(p.seen + out, err, time.monotonic() - t0)


def oathtool(b32, step):
    return subprocess.run(["oathtool", "--totp", "-b", b32, "-N", "@%d" % (step * 30)],
                          check=True, capture_output=True, text=True).stdout.strip()


def token_attrs(s, user):
    """The token entry as the rootDN sees it (ACLs bypassed)."""
    r = s.tool("ldapsearch", None, None, ["-Y", "EXTERNAL", "-LLL", "-b", fx.token_dn(user),
                                          "-s", "base"])
    assert r.returncode in (0, 32), r.stderr
    attrs = {}
    for line in r.stdout.replace("\n ", "").splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            attrs.setdefault(k, v)
    return attrs


def enroll(host, user):
    """Enrolls user on host with the code oathtool computes from the key shown; returns the
    key and the confirming step."""
    p = host.start(user)
    m = re.search(r"^INFO Key: ([A-Z2-7 ]+) \(", p.seen, re.M)
    assert m, "no key shown: %s" % p.seen
    key = m.group(1).replace(" ", "")
    step = int(time.time()) // 30
    r = answer(p, oathtool(key, step))
    assert r.code == PAM_SUCCESS, "enrollment on %s failed\n%s" % (host.name, r)
    assert r.logged("event=enroll", "user='%s'" % user, "result=ok"), r
    return key, step


class Env:
    def __init__(self, tmp, s):
        self.tmp, self.s, self.keys = tmp, s, {}
        with open(os.path.join(tmp, "passwd"), "w") as f:
            f.write(PASSWD)
        with open(os.path.join(tmp, "group"), "w") as f:
            f.write(GROUP)
        self.a = self.host("host-a", "host-a", s.ldapi)
        self.b = self.host("host-b", "host-b", s.ldaps)
        self.c = self.host("host-c", "host-c", s.ldap)  # StartTLS
        # what mfa-resetd's config adds: the reset service's own identity
        rpw = os.path.join(tmp, "reset.pw")
        with open(rpw, "w") as f:
            f.write(fx.RESETTER + "-secret\n")
        os.chmod(rpw, 0o600)
        self.resetter = Host(tmp, "resetter", fx.host_dn("host-b"), s.ldapi, s.ca, extra=(
            '\n  reset_bind = "simple";\n  reset_bind_dn = "%s";\n'
            '  reset_bind_password_file = "%s";' % (fx.RESET_DN, rpw))).config

    def host(self, name, identity, uri, ca=None, timeout_ms=10000):
        return Host(self.tmp, name, fx.host_dn(identity), uri, ca or self.s.ca, timeout_ms)
