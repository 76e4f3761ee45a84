"""The store primitives as several hosts: races, exact counts, reset, identities."""
import os
import subprocess
import tempfile
import time

import slapd_fixture as fx
from ldap_harness import *  # noqa: F401,F403 (the harness is these cases' vocabulary)


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


def test_roles_bind_as_their_own_identity(e):
    """One file, two identities: the module's (host) cannot reset, the daemon's can."""
    both = e.config("both", dn=fx.host_dn("host-c"), reset_dn=fx.RESET_DN)
    rc, kv = driver(both, "reset", "bob", "root")  # as the host: refused by the ACLs
    assert rc == 1 and kv["result"] == "EACCES", kv
    rc, kv = driver(both, "load", "bob", env={"MFA_LDAP_ROLE": "reset"})
    assert rc == 0 and kv["has_secret"] == "0" and kv["status"] == "enrolled", kv


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
