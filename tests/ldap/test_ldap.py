"""The ldap store against a real slapd (slapd_fixture.py): the primitives of common/ldap_*.c
through tests/ldap/ldap-driver, run as several hosts (each its own identity and config),
the shipped ACLs checked rule by rule with ldap-utils, the timeouts against a dead, a
paused and a wrongly certified directory, and the round trip with slapo-otp.

Run by meson (suite ldap) with LDAP_DRIVER set; needs root (slapd, other uids). Every test
runs even when one fails; the exit status says whether all passed."""
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slapd_fixture as fx  # noqa: E402

DRIVER = os.environ.get("LDAP_DRIVER", "")
TIMEOUT_MS = 1000
SECRET = b"pam_totp ldap test secret 1234"  # 30 bytes
SECRET_B32 = base64.b32encode(SECRET).decode().rstrip("=")
NEW_SECRET_B32 = base64.b32encode(b"a second secret, after a reset").decode().rstrip("=")
SASL_UID = 4242  # mapped to host-d by olcAuthzRegexp in the fixture


class Env:
    def __init__(self, tmp, slapd):
        self.tmp, self.s = tmp, slapd

    def config(self, name, uri=None, bind="simple", dn=None, pwfile=None, ca=None,
               timeout_ms=TIMEOUT_MS, owner=0, cert=None, plain=False):
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
        lines.append("};")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chown(path, owner, -1)
        return path


def driver(cfg, *args, env=None, uid=None):
    cmd = [DRIVER, cfg] + [str(a) for a in args]
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
        procs = [subprocess.Popen([DRIVER, c] + [str(a) for a in args], env=env,
                                  stdout=subprocess.PIPE, text=True) for c in cfgs]
        time.sleep(1.0)  # every driver connected and loaded (they wait at the barrier)
        open(bar, "w").close()
        outs = [p.communicate(timeout=60)[0] for p in procs]
        return [p.returncode for p in procs], outs


def now_step():
    return int(time.time()) // 30


def oathtool(b32, step):
    return subprocess.run(["oathtool", "--totp", "-b", b32, "-N", "@%d" % (step * 30)],
                          check=True, capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------------------------------

def test_enroll_on_a_is_seen_on_b(e):
    rc, kv = driver(e.a, "claim", "alice", SECRET_B32, now_step() - 5, "AAAA-BBBB-CCCC-DDDD")
    assert rc == 0, kv
    t = load(e.b, "alice")
    assert t["status"] == "enrolled" and t["has_secret"] == "1" and t["generation"] == "1", t
    assert t["n_recovery"] == "1" and t["digits"] == "6" and t["period"] == "30", t


def test_code_used_on_a_is_refused_on_b(e):
    step = int(load(e.a, "alice")["last_step"]) + 1
    assert driver(e.a, "accept", "alice", step)[0] == 0
    rc, kv = driver(e.b, "accept", "alice", step)
    assert rc == 3, kv  # -ESTALE: another host moved first
    assert driver(e.b, "accept", "alice", step - 1)[0] == 3


def test_20_racing_accepts_of_one_step_one_wins(e):
    step = int(load(e.a, "alice")["last_step"]) + 1
    cfgs = [e.a, e.b, e.c, e.a_tls] * 5
    rcs, outs = race(cfgs, "accept", "alice", step)
    print("  accept race: %d ok, %d stale, others %s" % (
        rcs.count(0), rcs.count(3), [r for r in rcs if r not in (0, 3)]))
    assert rcs.count(0) == 1 and rcs.count(3) == 19, (rcs, outs)
    assert load(e.c, "alice")["last_step"] == str(step)


def test_concurrent_failures_count_exactly(e):
    before = int(load(e.a, "alice")["failures"])
    n = 24
    rcs, outs = race([e.a, e.b, e.c, e.a_tls] * (n // 4), "fail", "alice")
    assert rcs == [0] * n, (rcs, outs)
    seen = sorted(int(o.split("failures=")[1].split()[0]) for o in outs)
    print("  %d concurrent failures: %d -> %s" % (n, before, load(e.b, "alice")["failures"]))
    assert seen == list(range(before + 1, before + n + 1)), seen  # each post-read distinct
    assert int(load(e.b, "alice")["failures"]) == before + n


def test_first_failure_on_entry_without_counter(e):
    """A token made by another tool may lack oathFailureCount: the first failure sets it
    (racing hosts still count exactly)."""
    assert driver(e.a, "claim", "dave", SECRET_B32, now_step() - 9)[0] == 0
    r = e.s.tool("ldapmodify", None, None, ["-Y", "EXTERNAL"],
                 stdin="dn: %s\nchangetype: modify\ndelete: oathFailureCount\n" % fx.token_dn("dave"))
    assert r.returncode == 0, r.stderr
    rcs, outs = race([e.a, e.b, e.c, e.a_tls], "fail", "dave")
    assert rcs.count(0) >= 1 and set(rcs) <= {0, 3}, (rcs, outs)  # losers re-read
    ok = rcs.count(0)
    for _ in range(4 - ok):
        assert driver(e.b, "fail", "dave")[0] == 0
    assert load(e.c, "dave")["failures"] == "4"


def test_writes_meant_for_a_reset_token_are_refused(e):
    """A login that read the token before a reset cannot accept, count or lock it after."""
    for op in (["accept", "dave", now_step() + 1], ["fail", "dave"], ["lockout", "dave", 60]):
        assert driver(e.a, "claim", "dave", SECRET_B32, now_step() - 9)[0] in (0, 1)
        with tempfile.TemporaryDirectory() as d:
            bar = os.path.join(d, "go")
            p = subprocess.Popen([DRIVER, e.b] + [str(a) for a in op], text=True,
                                 stdout=subprocess.PIPE,
                                 env=dict(os.environ, LDAPNOINIT="1", MFA_LDAP_BARRIER=bar))
            time.sleep(0.5)  # loaded, waiting
            assert driver(e.r, "reset", "dave", "root")[0] == 0
            open(bar, "w").close()
            out = p.communicate(timeout=30)[0]
        assert p.returncode == 3, (op, out)
        t = load(e.c, "dave")
        assert t["status"] == "reset" and t["failures"] == "0" and t["locked_until"] == "0", t


def test_lockout_holds_on_every_host_and_unlock_clears_it(e):
    assert driver(e.a, "lockout", "alice", 300)[0] == 0
    step = int(load(e.b, "alice")["last_step"]) + 1
    for cfg in (e.b, e.c):
        assert int(load(cfg, "alice")["locked_until"]) > time.time() + 250
        assert driver(cfg, "accept", "alice", step)[0] == 3  # the assertion sees the lock
    assert driver(e.r, "unlock", "alice")[0] == 0
    t = load(e.b, "alice")
    assert t["locked_until"] == "0" and t["failures"] == "0", t
    assert driver(e.b, "accept", "alice", step)[0] == 0


def test_recovery_code_used_once_fleet_wide(e):
    rcs, outs = race([e.a, e.b, e.c, e.a_tls], "use-recovery", "alice", "AAAA-BBBB-CCCC-DDDD")
    assert sorted(rcs) == [0, 3, 3, 3], (rcs, outs)
    assert load(e.a, "alice")["n_recovery"] == "0"


def test_enrollment_race_exactly_one_saved(e):
    step = now_step() - 3
    rcs, outs = race([e.a, e.b, e.c, e.a_tls] * 3, "claim", "bob", SECRET_B32, step)
    print("  claim race: %d ok, %d stale, others %s" % (
        rcs.count(0), rcs.count(3), [r for r in rcs if r not in (0, 3)]))
    assert rcs.count(0) == 1 and rcs.count(3) == 11, (rcs, outs)
    t = load(e.a, "bob")
    assert t["generation"] == "1" and t["status"] == "enrolled", t
    # A host cannot enroll over an enrolled token, even by asking directly.
    assert driver(e.b, "claim", "bob", NEW_SECRET_B32, step)[0] == 1


def test_reset_removes_secret_and_forces_enrollment_everywhere(e):
    gen = int(load(e.a, "alice")["generation"])
    rc, kv = driver(e.r, "reset", "alice", "root")
    assert rc == 0, kv
    for cfg in (e.a, e.b, e.c):
        t = load(cfg, "alice")
        assert t["status"] == "reset" and t["has_secret"] == "0", t
        assert t["n_recovery"] == "0" and t["reset_by"] == "root", t
        assert int(t["generation"]) == gen + 1 and abs(int(t["reset_at"]) - time.time()) < 60
    # Nothing of the old secret is left on the entry, even for the root DN's eyes.
    r = e.s.tool("ldapsearch", None, None, ["-Y", "EXTERNAL", "-b", fx.token_dn("alice"),
                                           "-s", "base", "-LLL", "oathSecret"])
    assert r.returncode == 0 and "dn: " in r.stdout, (r.returncode, r.stderr)
    assert "oathSecret" not in r.stdout, r.stdout
    # A code of the old token is refused: the token is not enrolled.
    step = int(load(e.a, "alice")["last_step"]) + 1
    assert driver(e.a, "accept", "alice", step)[0] == 3
    # Re-enrollment claims the reset token, on another host.
    assert driver(e.b, "claim", "alice", NEW_SECRET_B32, now_step() - 2)[0] == 0
    assert load(e.c, "alice")["generation"] == str(gen + 2)


def test_reset_of_never_enrolled_is_enoent(e):
    rc, kv = driver(e.r, "reset", "carol", "root")
    assert rc == 1 and kv["result"] == "ENOENT", kv


def test_sasl_external_host_identity(e):
    cfg = e.config("host-d", bind="sasl_external", owner=SASL_UID)
    rc, kv = driver(cfg, "load", "alice", uid=SASL_UID)
    assert rc == 0 and kv["has_secret"] == "1", kv  # host-d, not anonymous: it reads secrets


def test_tls_client_certificate_identity(e):
    cfg = e.config("host-c-cert", uri=e.s.ldaps, bind="sasl_external",
                   cert=os.path.join(e.s.dir, "client"))
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan-libldap-tls.supp")
    rc, kv = driver(cfg, "load", "alice", env={"LSAN_OPTIONS": "suppressions=" + supp})
    assert rc == 0 and kv["has_secret"] == "1", kv  # bound as host-c through its certificate


def test_ldap_uri_uses_verified_starttls(e):
    cfg = e.config("starttls", uri=e.s.ldap, dn=fx.host_dn("host-a"))
    rc, kv = driver(cfg, "load", "alice")
    assert rc == 0 and kv["has_secret"] == "1", kv
    # The same with a CA that did not sign the server: refused, so TLS was in use.
    cfg = e.config("starttls-wrongca", uri=e.s.ldap, dn=fx.host_dn("host-a"), ca=e.s.other_ca)
    rc, kv = driver(cfg, "load", "alice")
    assert rc == 1 and kv["result"] == "EPROTO", kv


def test_plain_simple_bind_only_when_allowed(e):
    # With the wrong CA, only a connection that skips TLS can succeed: it does so only with
    # allow_plain_simple_bind = true.
    cfg = e.config("plain", uri=e.s.ldap, dn=fx.host_dn("host-a"), ca=e.s.other_ca,
                   plain=True)
    rc, kv = driver(cfg, "load", "alice")
    assert rc == 0, kv


def test_token_found_by_convention_without_link(e):
    t = load(e.a, "erin")
    assert t["dn"] == fx.token_dn("erin") and t["exists"] == "0", t


def test_unknown_person_is_enoent(e):
    rc, kv = driver(e.a, "load", "mallory")
    assert rc == 1 and kv["result"] == "ENOENT", kv
    rc, kv = driver(e.a, "load", "*")  # filter metacharacters are escaped
    assert rc == 1 and kv["result"] == "ENOENT", kv


def test_ambiguous_person_filter_refused(e):
    path = e.config("ambiguous", dn=fx.host_dn("host-a"))
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("};", '  person_filter = "(|(uid=%s)(uid=bob))";\n};'))
    rc, kv = driver(path, "load", "alice")
    assert rc == 1 and kv["result"] == "ENOTUNIQ", kv


def test_host_cannot_reset_an_enrolled_token(e):
    rc, kv = driver(e.c, "reset", "bob", "host-c")
    assert rc == 1 and kv["result"] == "EACCES", kv
    assert load(e.c, "bob")["status"] == "enrolled"


def test_unsafe_password_file_refused(e):
    pw = os.path.join(e.tmp, "loose.pw")
    with open(pw, "w") as f:
        f.write("host-a-secret\n")
    os.chmod(pw, 0o644)
    cfg = e.config("loose", dn=fx.host_dn("host-a"), pwfile=pw)
    rc, kv = driver(cfg, "connect")
    assert rc == 1 and kv["result"] == "EPERM", kv


def test_list_is_one_paged_search_past_the_size_limit(e):
    ldif = "".join(
        "dn: cn=bulk%03d,ou=tokens,%s\nobjectClass: device\nobjectClass: pamTotpToken\n"
        "cn: bulk%03d\npamTotpGeneration: 0\n\n" % (i, fx.SUFFIX, i) for i in range(120))
    r = e.s.tool("ldapadd", fx.host_dn("host-a"), "host-a-secret", [], stdin=ldif)
    assert r.returncode == 0, r.stderr
    # The fixture's size limit is 50: a plain search stops there, the paged list does not.
    r = e.s.tool("ldapsearch", fx.RESET_DN, "resetd-secret",
                 ["-b", "ou=tokens," + fx.SUFFIX, "-s", "one", "-LLL", "cn"])
    assert r.returncode == 4, (r.returncode, r.stderr)
    rc, kv = driver(e.r, "list")
    assert rc == 0 and int(kv["count"]) >= 122, kv


# --- ACLs: each rule of etc/ldap/acl.ldif, as each identity -----------------------------

def search(e, who, pw, base, attrs, filt="(objectClass=*)", scope="base"):
    r = e.s.tool("ldapsearch", who, pw, ["-b", base, "-s", scope, "-LLL", filt] + attrs)
    return r.returncode, r.stdout


def modify(e, who, pw, dn, change):
    r = e.s.tool("ldapmodify", who, pw, [], stdin="dn: %s\nchangetype: modify\n%s\n" % (dn, change))
    return r.returncode


def test_acl_person_reads_own_status_never_a_secret(e):
    # erin: no oathTOTPUser link, so slapo-otp leaves her password binds alone
    assert driver(e.a, "claim", "erin", SECRET_B32, now_step() - 9)[0] == 0
    erin, pw, dn = fx.person_dn("erin"), fx.PASSWORD["erin"], fx.token_dn("erin")
    _, out = search(e, erin, pw, dn, ["pamTotpStatus", "oathSecret", "oathFailureCount"])
    assert "pamTotpStatus: enrolled" in out and "oathFailureCount: 0" in out, out
    assert "oathSecret" not in out, out
    rc, out = search(e, erin, pw, dn, [], filt="(oathSecret=*)")
    assert "dn:" not in out, out  # not even as a filter
    _, out = search(e, erin, pw, fx.token_dn("bob"), ["pamTotpStatus"])
    assert "pamTotpStatus" not in out, out  # nobody else's status
    assert modify(e, erin, pw, dn, "replace: pamTotpStatus\npamTotpStatus: reset") == 50
    assert modify(e, erin, pw, dn, "replace: oathFailureCount\noathFailureCount: 0") == 50
    assert modify(e, erin, pw, dn, "delete: oathSecret") == 50


def test_acl_host_reads_secrets_moves_counters_never_resets(e):
    h, pw, dn = fx.host_dn("host-c"), "host-c-secret", fx.token_dn("bob")
    _, out = search(e, h, pw, dn, ["oathSecret"])
    assert "oathSecret" in out, out
    assert modify(e, h, pw, dn, "replace: oathFailureCount\noathFailureCount: 0") == 0
    assert modify(e, h, pw, dn, "replace: oathLastFailure\noathLastFailure: 20260101000000Z") == 0
    for change in ("replace: pamTotpStatus\npamTotpStatus: reset",
                   "delete: oathSecret", "replace: oathSecret\noathSecret: x",
                   "replace: pamTotpGeneration\npamTotpGeneration: 99",
                   "replace: oathOTPLength\noathOTPLength: 8",
                   "delete: objectClass\nobjectClass: pamTotpToken"):
        assert modify(e, h, pw, dn, change) == 50, change
    r = e.s.tool("ldapdelete", h, pw, [dn])
    assert r.returncode == 50, r.stderr
    # nor point a person at another token
    assert modify(e, h, pw, fx.person_dn("bob"),
                  "replace: oathTOTPToken\noathTOTPToken: %s" % fx.token_dn("carol")) == 50


def test_acl_reset_identity_resets_and_unlocks_never_reads_a_secret(e):
    r, pw, dn = fx.RESET_DN, "resetd-secret", fx.token_dn("bob")
    _, out = search(e, r, pw, dn, ["oathSecret", "pamTotpStatus"])
    assert "oathSecret" not in out and "pamTotpStatus: enrolled" in out, out
    _, out = search(e, r, pw, dn, [], filt="(oathSecret=*)")
    assert "dn:" not in out, out
    c = e.s.tool("ldapcompare", r, pw, [dn, "oathSecret:: " + base64.b64encode(SECRET).decode()])
    assert c.returncode == 50, (c.returncode, c.stdout)
    assert modify(e, r, pw, dn, "replace: oathFailureCount\noathFailureCount: 0") == 0
    # may delete a secret, never set one
    assert modify(e, r, pw, fx.token_dn("alice"), "add: oathSecret\noathSecret: x") == 50


def test_acl_anonymous_gets_nothing(e):
    for base in (fx.SUFFIX, "ou=tokens," + fx.SUFFIX, fx.token_dn("alice"),
                 "ou=people," + fx.SUFFIX):
        _, out = search(e, None, None, base, [], scope="sub")
        assert "dn:" not in out, (base, out)
    assert modify(e, None, None, fx.token_dn("alice"),
                  "replace: oathFailureCount\noathFailureCount: 0") != 0


# --- slapo-otp interop -----------------------------------------------------------------

def whoami(e, who, pw):
    return e.s.tool("ldapwhoami", who, pw, []).returncode


def test_otp_bind_then_pam_totp_refuses_that_code(e):
    alice, pw = fx.person_dn("alice"), fx.PASSWORD["alice"]
    step = now_step()
    assert int(load(e.a, "alice")["last_step"]) < step
    assert whoami(e, alice, pw + oathtool(NEW_SECRET_B32, step)) == 0
    used = int(load(e.a, "alice")["last_step"])
    assert used >= step, used  # the overlay moved the one watermark
    assert driver(e.a, "accept", "alice", used)[0] == 3
    assert whoami(e, alice, pw + oathtool(NEW_SECRET_B32, used)) == 49  # and its own replay


def test_pam_totp_accept_then_otp_bind_refuses_that_code(e):
    alice, pw = fx.person_dn("alice"), fx.PASSWORD["alice"]
    step = int(load(e.a, "alice")["last_step"]) + 1
    assert driver(e.a, "accept", "alice", step)[0] == 0
    assert whoami(e, alice, pw + oathtool(NEW_SECRET_B32, step)) == 49
    assert whoami(e, alice, pw) == 49  # the password alone is not enough either


# --- timeouts: never a hang ------------------------------------------------------------

def timed(cfg, *args):
    t0 = time.monotonic()
    rc, kv = driver(cfg, *args)
    return rc, kv, time.monotonic() - t0


def test_nothing_listening_fails_fast(e):
    for uri in ("ldaps://127.0.0.1:%d" % fx.free_port(), "ldapi://%2Fnonexistent%2Fsock"):
        cfg = e.config("dead", uri=uri, dn=fx.host_dn("host-a"))
        rc, kv, dt = timed(cfg, "load", "alice")
        print("  %s: %s in %.2f s" % (uri, kv.get("result"), dt))
        assert rc == 1 and kv["result"] in ("ECONNREFUSED", "ENOENT"), kv
        assert dt < 3 * TIMEOUT_MS / 1000


def test_second_uri_used_when_first_is_dead(e):
    uri = "ldaps://127.0.0.1:%d %s" % (fx.free_port(), e.s.ldaps)
    cfg = e.config("failover", uri=uri, dn=fx.host_dn("host-a"))
    rc, kv = driver(cfg, "load", "alice")
    assert rc == 0 and kv["has_secret"] == "1", kv


def test_wrong_ca_refused(e):
    cfg = e.config("wrongca", uri=e.s.ldaps, dn=fx.host_dn("host-a"), ca=e.s.other_ca)
    rc, kv, dt = timed(cfg, "load", "alice")
    print("  wrong CA: %s in %.2f s" % (kv.get("result"), dt))
    assert rc == 1 and kv["result"] == "EPROTO", kv
    assert dt < 3 * TIMEOUT_MS / 1000


def test_paused_directory_times_out(e):
    e.s.pause()
    try:
        starttls = e.config("starttls-paused", uri=e.s.ldap, dn=fx.host_dn("host-a"))
        for cfg, how in ((e.a, "ldapi"), (e.a_tls, "ldaps"), (starttls, "StartTLS")):
            rc, kv, dt = timed(cfg, "load", "alice")
            print("  paused slapd, %s: %s in %.2f s" % (how, kv.get("result"), dt))
            assert rc == 4 and kv["result"] == "ETIMEDOUT", kv
            assert TIMEOUT_MS / 1000 * 0.9 <= dt < 3 * TIMEOUT_MS / 1000, dt
    finally:
        e.s.resume()


def test_directory_paused_mid_login_times_out(e):
    """Connected and loaded, then the directory stops before the write."""
    with tempfile.TemporaryDirectory() as d:
        bar = os.path.join(d, "go")
        env = dict(os.environ, LDAPNOINIT="1", MFA_LDAP_BARRIER=bar)
        procs = [subprocess.Popen([DRIVER, c, "fail", "alice"], env=env, text=True,
                                  stdout=subprocess.PIPE) for c in (e.a, e.a_tls)]
        time.sleep(0.5)
        e.s.pause()
        try:
            t0 = time.monotonic()
            open(bar, "w").close()
            outs = [p.communicate(timeout=30)[0] for p in procs]
            dt = time.monotonic() - t0
        finally:
            e.s.resume()
        print("  paused between load and write: %s in %.2f s" % (
            [p.returncode for p in procs], dt))
        assert [p.returncode for p in procs] == [4, 4], outs
        assert dt < 3 * TIMEOUT_MS / 1000, dt


def test_directory_killed_mid_login_fails_without_sigpipe(e):
    """Connected and loaded, then slapd dies: an error, never a SIGPIPE that would kill the
    program hosting the module."""
    with tempfile.TemporaryDirectory() as d:
        bar = os.path.join(d, "go")
        env = dict(os.environ, LDAPNOINIT="1", MFA_LDAP_BARRIER=bar)
        procs = [subprocess.Popen([DRIVER, c, "fail", "alice"], env=env, text=True,
                                  stdout=subprocess.PIPE) for c in (e.a, e.a_tls)]
        time.sleep(0.5)
        e.s.kill()
        try:
            open(bar, "w").close()
            outs = [p.communicate(timeout=30)[0] for p in procs]
        finally:
            e.s.launch()
    rcs = [p.returncode for p in procs]
    print("  slapd killed between load and write: %s %s" % (rcs, [o.strip() for o in outs]))
    assert rcs == [1, 1], (rcs, outs)
    assert driver(e.a, "load", "alice")[0] == 0  # and it is back for what follows


# ---------------------------------------------------------------------------------------

def main():
    # meson ends a test that overruns with SIGTERM: unwind, so the fixture stops slapd.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if os.geteuid() != 0 or not DRIVER:
        print("ldap suite: needs root and LDAP_DRIVER; skipped")
        return 77
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_")]
    failed = []
    with tempfile.TemporaryDirectory(prefix="pam_totp-ldap-") as tmp, \
            fx.Slapd(os.path.join(tmp, "slapd"), with_otp=True) as s:
        os.chmod(tmp, 0o711)  # the SASL EXTERNAL test runs as another uid
        e = Env(tmp, s)
        e.a = e.config("host-a", dn=fx.host_dn("host-a"))
        e.b = e.config("host-b", dn=fx.host_dn("host-b"))
        e.c = e.config("host-c", dn=fx.host_dn("host-c"))
        e.a_tls = e.config("host-a-tls", uri=s.ldaps, dn=fx.host_dn("host-a"))
        e.r = e.config("resetd", dn=fx.RESET_DN)
        for name, f in tests:
            t0 = time.monotonic()
            try:
                f(e)
                print("ok   %s (%.2f s)" % (name, time.monotonic() - t0))
            except Exception:
                failed.append(name)
                print("FAIL %s" % name)
                traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
    print("%d tests, %d failed %s" % (len(tests), len(failed), " ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
