"""What every ldap case uses: per-host configs (Env), the driver of common/ldap_*.c run as
one host, races released at once through a barrier file, codes from oathtool."""
import base64
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slapd_fixture as fx  # noqa: E402

DRIVER = os.environ.get("LDAP_DRIVER", "")
TIMEOUT_MS = 1000  # the timeout cases' configs; the others get room for a loaded machine
RELAXED_MS = 10000
SECRET = b"pam_totp ldap test secret 1234"  # 30 bytes
SECRET_B32 = base64.b32encode(SECRET).decode().rstrip("=")
NEW_SECRET_B32 = base64.b32encode(b"a second secret, after a reset").decode().rstrip("=")
SASL_UID = 4242  # mapped to host-d by olcAuthzRegexp in the fixture


RESET_CONFIGS = set()  # configs the driver runs as mfa-resetd (MFA_LDAP_ROLE=reset)


class Env:
    def __init__(self, tmp, slapd):
        self.tmp, self.s = tmp, slapd

    def config(self, name, uri=None, bind="simple", dn=None, pwfile=None, ca=None,
               timeout_ms=RELAXED_MS, owner=0, cert=None, plain=False, reset_dn=None):
        path = os.path.join(self.tmp, name + ".conf")
        if bind == "simple" and pwfile is None:
            pwfile = os.path.join(self.tmp, name + ".pw")
            with open(pwfile, "w") as f:
                f.write(dn.split(",")[0][3:] + "-secret\n")
            os.chmod(pwfile, 0o600)
        lines = ['store = "ldap";', "ldap = {",
                 '  uri = "%s";' % (uri or self.s.ldapi), '  bind = "%s";' % bind,
                 '  person_base = "ou=people,%s";' % fx.SUFFIX,
                 '  token_base = "ou=tokens,%s";' % fx.SUFFIX,
                 "  timeout_ms = %d;" % timeout_ms,
                 '  ca_file = "%s";' % (ca or self.s.ca)]
        if bind == "simple":
            lines += ['  bind_dn = "%s";' % dn, '  bind_password_file = "%s";' % pwfile]
        if cert:
            lines += ['  cert_file = "%s.pem";' % cert, '  key_file = "%s.key";' % cert]
        if plain:
            lines.append("  allow_plain_simple_bind = true;")
        if reset_dn:  # the reset service's identity in the same file, as on a real host
            rpw = os.path.join(self.tmp, name + ".reset.pw")
            with open(rpw, "w") as f:
                f.write(reset_dn.split(",")[0][3:] + "-secret\n")
            os.chmod(rpw, 0o600)
            lines += ['  reset_bind = "simple";', '  reset_bind_dn = "%s";' % reset_dn,
                      '  reset_bind_password_file = "%s";' % rpw]
        lines.append("};")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chown(path, owner, -1)
        return path


def driver(cfg, *args, env=None, uid=None):
    cmd = [DRIVER, cfg] + [str(a) for a in args]
    if cfg in RESET_CONFIGS:
        env = dict(env or {}, MFA_LDAP_ROLE="reset")
    if uid is not None:
        cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LDAPNOINIT="1", **(env or {})))
    kv = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l
              and not l.startswith("token "))
    if "result" in kv:
        kv["msg"] = kv["result"]
        kv["result"] = kv["result"].split()[0]
    if p.stderr:
        kv["stderr"] = p.stderr[-2000:]  # a sanitizer's report shows in the failure
    return p.returncode, kv


def load(cfg, user):
    rc, kv = driver(cfg, "load", user)
    assert rc == 0, kv
    return kv


def race(cfgs, *args):
    """Starts one driver per config; each connects and loads, then waits at a barrier file;
    releasing it puts every write at the server at once. Returns the exit codes and outputs."""
    with tempfile.TemporaryDirectory() as d:
        bar = os.path.join(d, "go")
        env = dict(os.environ, LDAPNOINIT="1", MFA_LDAP_BARRIER=bar)
        procs = [subprocess.Popen([DRIVER, c] + [str(a) for a in args],
                                  env=dict(env, MFA_LDAP_ROLE="reset") if c in RESET_CONFIGS
                                  else env, stdout=subprocess.PIPE, text=True) for c in cfgs]
        time.sleep(1.0)  # every driver connected and loaded (they wait at the barrier)
        open(bar, "w").close()
        outs = [p.communicate(timeout=60)[0] for p in procs]
        return [p.returncode for p in procs], outs


def now_step():
    return int(time.time()) // 30


def oathtool(b32, step):
    return subprocess.run(["oathtool", "--totp", "-b", b32, "-N", "@%d" % (step * 30)],
                          check=True, capture_output=True, text=True).stdout.strip()
