"""mfa-resetd on the ldap store: the real daemon (nss_wrapper for its users and groups) and
the real mfa-reset client as different uids (setpriv), against a real slapd started here
(slapd_fixture.py) with its access log (-d stats), so a case can see what the daemon asked
the directory, and as whom. The hosts' side is checked with ldapsearch as a host identity
and with tests/ldap/policy-driver as host-a..c.

Run by meson (suite ldap) with MFA_RESETD, MFA_RESET, POLICY_DRIVER and NSS_WRAPPER_LIB
set; needs root; skipped with exit 77 otherwise. The cases run in order (later ones build
on earlier state); every case runs even when one fails."""
import base64
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slapd_fixture as fx  # noqa: E402
from ldap_harness import SECRET_B32, Env, oathtool  # noqa: E402
from resetd_ldap_env import (BULK, BULK_SECRET, DOWN_MS, ENROLLED, NSS_WRAPPER,  # noqa: E402
                             PDRIVER, RESET, RESETD, LoggingSlapd, all_tokens,
                             assert_all_directory_failures, expect, gentime_age,
                             host_view, pdriver, set_timeout, setup)


# --- the cases, in order -------------------------------------------------------------------

def test_check_config_accepts_the_ldap_config(e):
    p = subprocess.run([RESET, "--check-config", e.cfg], capture_output=True, text=True)
    expect(p, 0, "--check-config of mfa-resetd's ldap config")
    assert p.stdout.strip().endswith(": OK"), p.stdout


def test_admin_reset_removes_secret_and_codes_every_host_sees_it(e):
    s, d = e.s, e.d
    before = s.rootdump(fx.token_dn("alice"))
    assert before.get("oathSecret") and before.get("pamTotpRecoveryHash"), before
    bob = s.rootdump(fx.token_dn("bob"))
    mark = s.mark()
    p = d.run("admin1", "--yes", "alice")
    expect(p, 0, "admin1 resets alice")
    assert "alice: reset" in p.stdout and "1 succeeded, 0 failed" in p.stdout, p.stdout
    after = s.rootdump(fx.token_dn("alice"))
    assert "oathSecret" not in after, "secret left in the directory: %s" % after
    assert "pamTotpRecoveryHash" not in after, "recovery codes left: %s" % after
    assert after["pamTotpStatus"] == ["reset"] and after["pamTotpResetBy"] == ["admin1"], after
    assert 0 <= gentime_age(after["pamTotpResetAt"][0]) < 120, after
    assert int(after["pamTotpGeneration"][0]) == int(before["pamTotpGeneration"][0]) + 1
    assert s.rootdump(fx.token_dn("bob")) == bob, "bob was touched"
    # a host sees it: through its own identity, and through the policy
    hv = host_view(s, "alice")
    assert hv["pamTotpStatus"] == ["reset"] and hv["pamTotpResetBy"] == ["admin1"], hv
    for cfg in (e.a, e.b, e.c):
        rc, kv = pdriver(cfg, "decide", "alice", 1)
        assert rc == 0 and kv["decision"] == "enroll", kv
    rc, kv = pdriver(e.c, "status", "alice")
    assert kv["status"] == "reset" and kv["reset_by"] == "admin1", kv
    # the daemon wrote as the reset identity, and logged who and whom
    ops, binds, _ = s.ops_since(mark)
    mods = [c for c, _, v, rest in ops if v == "MOD" and fx.token_dn("alice") in rest]
    assert mods and all(binds.get(c) == fx.RESET_DN.lower() for c in mods), (mods, binds)
    assert re.search(r"event=reset actor='admin1' uid=2001 target='alice' result=ok",
                     d.logtext()), d.logtext()


def test_non_admin_refused_and_the_directory_never_asked(e):
    s, d = e.s, e.d
    before = all_tokens(s)
    mark = s.mark()
    for args in (("--yes", "bob"), ("--yes", "--group", "contractors"), ("--unlock", "bob"),
                 ("--status", "bob"), ("--list",)):
        p = d.run("mallory", *args)
        expect(p, 3, "mallory %s" % (args,))
        assert "not authorized" in p.stderr, p.stderr
    assert all_tokens(s) == before, "a refused request changed the directory"
    ops, binds, _ = s.ops_since(mark)
    assert fx.RESET_DN.lower() not in binds.values(), \
        "the daemon bound to the directory for a refused caller: %s" % binds
    assert re.search(r"event=reset actor='mallory' uid=2030 target='bob' result=refused "
                     r"reason=not-admin", d.logtext()), d.logtext()


def test_unlock_clears_failures_and_keeps_the_token(e):
    s, d = e.s, e.d
    a, b = e.a, e.b
    wrong = oathtool(SECRET_B32, int(time.time()) // 30 + 200)
    for cfg in (a, b, a, b, a):  # five wrong codes from two hosts: locked (max_failures 5)
        rc, kv = pdriver(cfg, "verify", "erin", wrong)
        assert rc == 5 and kv["outcome"] in ("wrong", "locked"), kv
    st = d.run("admin1", "--status", "erin")
    expect(st, 0, "status of a locked-out person")
    assert re.search(r"^erin +enrolled .*locked out until", st.stdout, re.M), st.stdout
    before = s.rootdump(fx.token_dn("erin"))
    assert before["oathFailureCount"] == ["5"] and before.get("pamTotpLockedUntil"), before
    p = d.run("admin1", "--unlock", "erin")
    expect(p, 0, "--unlock erin")
    assert "erin: unlocked" in p.stdout, p.stdout
    after = s.rootdump(fx.token_dn("erin"))
    assert after["oathFailureCount"] == ["0"] and "pamTotpLockedUntil" not in after, after
    assert after["oathSecret"] == before["oathSecret"], "unlock touched the secret"
    assert after["pamTotpGeneration"] == before["pamTotpGeneration"], after
    rc, kv = pdriver(a, "decide", "erin", 1)
    assert kv["decision"] == "verify", kv
    p = d.run("admin1", "--unlock", "gina", "frank")
    expect(p, 1, "unlock of people without a token")
    assert re.search(r"^gina: failed: .*\(not-enrolled\)", p.stdout, re.M), p.stdout
    assert re.search(r"^frank: failed: no such person in the MFA directory \(no-entry\)",
                     p.stdout, re.M), p.stdout
    expect(d.run("admin1", "--unlock", "alice"), 0, "unlock of a reset token")


def test_status_and_list_show_a_lockout_counted_but_not_written(e):
    """A host counted the failure that reaches max_failures and died before writing its
    lockout: --status and --list show erin locked out as the logins decide it."""
    s, d = e.s, e.d
    s.as_root("dn: %s\nchangetype: modify\nreplace: oathFailureCount\noathFailureCount: 5\n-\n"
              "replace: oathLastFailure\noathLastFailure: %s\n-\nreplace: pamTotpLockedUntil\n-\n"
              % (fx.token_dn("erin"),
                 time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time()))))
    rc, kv = pdriver(e.a, "decide", "erin", 1)
    assert kv["decision"] == "locked", kv
    for args in (("--status", "erin"), ("--list",)):
        p = d.run("admin1", *args)
        expect(p, 0, " ".join(args))
        assert re.search(r"^erin +enrolled .*locked out until", p.stdout, re.M), p.stdout
    p = d.run("admin1", "--json", "--status", "erin")
    until = json.loads(p.stdout)["results"][0]["locked_until"]
    # the daemon's own lockout settings (its config sets none: lock_seconds 300)
    assert abs(until - (time.time() + 300)) < 30, until
    expect(d.run("admin1", "--unlock", "erin"), 0, "--unlock erin")
    rc, kv = pdriver(e.a, "decide", "erin", 1)
    assert kv["decision"] == "verify", kv


def test_status_and_json_unchanged(e):
    d = e.d
    p = d.run("admin1", "--status", "alice", "bob", "gina", "frank", "nosuchuser")
    expect(p, 1, "status with an unknown user")
    out = p.stdout
    assert re.search(r"^alice +reset pending \(by admin1 at ", out, re.M), out
    assert re.search(r"^bob +enrolled \(since ", out, re.M), out
    assert re.search(r"^gina +not enrolled", out, re.M), out
    assert re.search(r"^frank +not enrolled", out, re.M), out
    assert re.search(r"^nosuchuser: failed: .*unknown-user", out, re.M), out
    assert "4 shown, 1 failed" in out, out
    p = d.run("admin1", "--json", "--status", "alice", "bob", "gina")
    expect(p, 0, "--json --status")
    doc = json.loads(p.stdout)
    st = {r["user"]: r for r in doc["results"]}
    assert st["alice"]["status"] == "reset" and st["alice"]["reset_by"] == "admin1", doc
    assert isinstance(st["alice"]["reset_at"], int), doc
    assert st["bob"]["status"] == "enrolled" and st["bob"]["reset_by"] is None, doc
    assert isinstance(st["bob"]["enrolled_at"], int), doc
    assert st["gina"]["status"] == "none" and st["gina"]["enrolled_at"] is None, doc
    p = d.run("admin1", "--json", "--yes", "carol", "nosuchuser", "gina")
    expect(p, 1, "--json reset")
    doc = json.loads(p.stdout)
    res = {r["user"]: r for r in doc["results"]}
    assert doc["ok"] == 1 and doc["failed"] == 2, doc
    assert res["carol"]["result"] == "ok" and res["carol"]["synced"] is True, doc
    assert res["nosuchuser"]["error"] == "unknown-user", doc
    assert res["gina"]["error"] == "not-enrolled", doc


def test_list_is_one_paged_search(e):
    s, d = e.s, e.d
    mark = s.mark()
    t0 = time.monotonic()
    p = d.run("admin1", "--list")
    took = time.monotonic() - t0
    expect(p, 0, "--list")
    n = len(ENROLLED) + len(BULK)
    assert "%d shown, 0 failed" % n in p.stdout, p.stdout[-500:]
    for u in BULK:
        assert re.search(r"^%s +enrolled" % u, p.stdout, re.M), u
    assert re.search(r"^alice +reset pending \(by admin1", p.stdout, re.M), p.stdout
    ops, binds, results = s.ops_since(mark)
    mine = [(c, o, v, rest) for c, o, v, rest in ops if binds.get(c) == fx.RESET_DN.lower()]
    # (slapd logs a search on two lines: base, scope and filter; then the attributes)
    srch = [(c, o, rest) for c, o, v, rest in mine if v == "SRCH" and "base=" in rest]
    assert len(srch) == 1, "want one search, got %d: %s" % (len(srch), srch[:5])
    c, o, rest = srch[0]
    assert 'base="ou=tokens,%s"' % fx.SUFFIX in rest and "pamTotpToken" in rest, rest
    # The database's size limit is 50: all of them in one search means it was paged.
    assert results.get((c, o)) == str(n), (results.get((c, o)), n)
    assert not [v for _, _, v, _ in mine if v not in ("BIND", "SRCH")], mine
    p = d.run("admin1", "--json", "--list")
    doc = json.loads(p.stdout)
    assert len(doc["results"]) == n and doc["ok"] == n, doc["ok"]
    print("     --list of %d tokens: %.2f s" % (n, took))


def test_list_never_echoes_a_bad_stored_name(e):
    """Token entries whose cn is no user name (hosts may add entries under ou=tokens): --list
    counts each as a failure and never lets its bytes forge a reply line."""
    s, d = e.s, e.d
    evil = ["x\nok mallory reset", "a b c"]
    ldif = "".join("dn:: %s\nobjectClass: device\nobjectClass: pamTotpToken\ncn:: %s\n"
                   "pamTotpGeneration: 1\npamTotpStatus: enrolled\n\n" % (
                       base64.b64encode(("cn=%s,ou=tokens,%s" % (cn, fx.SUFFIX)).encode())
                       .decode(), base64.b64encode(cn.encode()).decode()) for cn in evil)
    p = s.tool("ldapadd", None, None, ["-Y", "EXTERNAL", "-Q"], stdin=ldif)
    assert p.returncode == 0, p.stderr
    try:
        n = len(ENROLLED) + len(BULK)
        p = d.run("admin1", "--list")
        expect(p, 1, "--list with bad names stored")
        assert "%d shown, 2 failed" % n in p.stdout, p.stdout[-300:]
        assert "mallory" not in p.stdout and not re.search(r"^(a|x)\b", p.stdout, re.M), \
            [l for l in p.stdout.splitlines() if not re.match(r"(p\d+|[a-e][a-z]+) ", l)]
        assert p.stdout.count("(invalid): failed: ") == 2, p.stdout[-300:]
        doc = json.loads(d.run("admin1", "--json", "--list").stdout)
        assert doc["ok"] == n and doc["failed"] == 2, (doc["ok"], doc["failed"])
        assert not [r for r in doc["results"] if "mallory" in r["user"]], doc
    finally:
        for cn in evil:
            s.tool("ldapdelete", None, None, ["-Y", "EXTERNAL", "-Q",
                                              "cn=%s,ou=tokens,%s" % (cn.replace("\n", "\\0A"),
                                                                      fx.SUFFIX)])
    p = d.run("admin1", "--list")
    expect(p, 0, "--list once the bad entries are gone")


def test_group_from_file_and_refusals(e):
    s, d = e.s, e.d
    dave = s.rootdump(fx.token_dn("dave"))
    carol = s.rootdump(fx.token_dn("carol"))
    p = d.run("admin1", "--dry-run", "--group", "contractors")
    expect(p, 0, "--dry-run --group")
    assert "alice: would be reset" in p.stdout and "carol: would be reset" in p.stdout, p.stdout
    assert s.rootdump(fx.token_dn("carol")) == carol, "a dry run changed carol"
    p = d.run("admin1", "--yes", "--group", "contractors")  # alice, carol
    expect(p, 0, "--group contractors")
    assert "2 succeeded, 0 failed" in p.stdout, p.stdout
    assert s.rootdump(fx.token_dn("dave")) == dave, "dave (not a member) was touched"
    p = d.run("admin1", "--yes", "--from-file", "-", input="bob\n# comment\n\n  dave  \n")
    expect(p, 0, "--from-file -")
    assert "2 succeeded, 0 failed" in p.stdout, p.stdout
    for u in ("bob", "dave"):
        t = s.rootdump(fx.token_dn(u))
        assert t["pamTotpStatus"] == ["reset"] and t["pamTotpResetBy"] == ["admin1"], t
        assert "oathSecret" not in t, t
    p = d.run("admin1", "--yes", "admin1", "boss", "frank", "gina", "nosuchuser")
    expect(p, 1, "refusals")
    out = p.stdout
    assert re.search(r"^admin1: failed: .*self-reset", out, re.M), out
    assert re.search(r"^boss: failed: .*protected", out, re.M), out
    assert re.search(r"^frank: failed: .*no-entry", out, re.M), out
    assert re.search(r"^gina: failed: .*not-enrolled", out, re.M), out
    assert "0 succeeded, 5 failed" in out, out
    p = d.run("root", "--yes", "p159")
    expect(p, 0, "root resets")
    assert s.rootdump(fx.token_dn("p159"))["pamTotpResetBy"] == ["root"]


def test_reset_races_logins_on_three_hosts(e):
    """18 logins on three hosts hold at a barrier with one good code; the barrier and a reset
    through the daemon are released together. Whatever order the directory takes them in,
    the reset stands (no login writes the old token back) and the code opens at most one."""
    s, d = e.s, e.d
    user, b32 = "p130", base64.b32encode(BULK_SECRET).decode().rstrip("=")
    code = oathtool(b32, int(time.time()) // 30)
    with tempfile.TemporaryDirectory() as tmp:
        bar = os.path.join(tmp, "go")
        env = dict(os.environ, LDAPNOINIT="1", MFA_LDAP_BARRIER=bar)
        procs = [subprocess.Popen([PDRIVER, c, "verify", user, code], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for c in (e.a, e.b, e.c) * 6]
        time.sleep(1.0)  # every login connected and read the token
        open(bar, "w").close()
        p = d.run("admin1", "--yes", user)
        outs = [pr.communicate(timeout=60) for pr in procs]
    expect(p, 0, "reset racing logins")
    assert "%s: reset" % user in p.stdout, p.stdout
    for _, err in outs:
        assert not err, err[-2000:]
    got = [dict(l.split("=", 1) for l in o.splitlines() if "=" in l).get("outcome")
           for o, _ in outs]
    assert got.count("ok-code") <= 1, got
    # replays count as failures, and host-a/b lock after 5 (max_failures): "locked" is the
    # policy's answer to the logins that come after such a lockout
    assert set(got) <= {"ok-code", "replay", "changed", "locked"}, got
    t = s.rootdump(fx.token_dn(user))
    assert t["pamTotpStatus"] == ["reset"] and "oathSecret" not in t, t
    assert t["pamTotpResetBy"] == ["admin1"], t
    rc, kv = pdriver(e.b, "verify", user, oathtool(b32, int(time.time()) // 30 + 1))
    assert rc == 5 and kv["outcome"] == "changed", kv
    print("     outcomes: %s" % {k: got.count(k) for k in set(got)})


def test_directory_paused_every_result_says_so_within_the_timeout(e):
    s, d = e.s, e.d
    names = ["p010", "p011", "p012", "p013", "p014"]  # one timeout for all, not one each
    before = {u: s.rootdump(fx.token_dn(u)) for u in names}
    set_timeout(e, 5000)
    s.pause()
    try:
        # a refusal does not wait on the directory (nor bind to it)
        t0 = time.monotonic()
        expect(d.run("mallory", "--yes", "p010"), 3, "refused while the directory is down")
        assert time.monotonic() - t0 < 2.5, "a refusal waited on the directory"
        set_timeout(e, DOWN_MS)
        t0 = time.monotonic()
        p = d.run("admin1", "--yes", *names)
        took = time.monotonic() - t0
        expect(p, 1, "reset with the directory paused")
        assert_all_directory_failures(p, names)
        assert took < DOWN_MS / 1000 + 2.5, "took %.2f s" % took
        print("     %d resets with the directory paused: all \"directory\", in %.2f s"
              % (len(names), took))
        for args in (("--status", "p010"), ("--unlock", "p010")):
            t0 = time.monotonic()
            q = d.run("admin1", *args)
            assert time.monotonic() - t0 < DOWN_MS / 1000 + 2.5, args
            expect(q, 1, "%s with the directory paused" % (args,))
            assert "cannot reach the MFA directory (directory)" in q.stdout, q.stdout
        t0 = time.monotonic()
        q = d.run("admin1", "--list")
        assert time.monotonic() - t0 < DOWN_MS / 1000 + 2.5
        assert q.returncode != 0 and "cannot reach the MFA directory" in q.stderr, q
        assert " shown" not in q.stdout or "0 shown" in q.stdout, q.stdout
        q = d.run("admin1", "--json", "--yes", "p015")
        doc = json.loads(q.stdout)
        assert doc["ok"] == 0 and doc["results"][0]["error"] == "directory", doc
    finally:
        s.resume()
    assert re.search(r"event=directory result=error op=connect error='Connection timed out' "
                     r"detail='[^']+'", d.logtext()), d.logtext()
    assert re.search(r"event=reset actor='admin1' uid=2001 target='p010' result=error "
                     r"reason=directory", d.logtext()), d.logtext()
    time.sleep(0.5)
    for u in names:
        assert s.rootdump(fx.token_dn(u)) == before[u], u + " changed"
    set_timeout(e, 10000)


def test_directory_lost_mid_batch_no_false_success(e):
    """slapd paused while a reset of 100 people runs: every "ok" is true, the rest say the
    directory failed, at once after one timeout (not one each)."""
    s, d = e.s, e.d
    names = BULK[20:120]
    set_timeout(e, DOWN_MS)
    mark = s.mark()
    proc = subprocess.Popen(
        ["setpriv", "--reuid=2001", "--regid=2001", "--clear-groups", RESET, "--socket",
         d.sock, "--yes", "--from-file", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    proc.stdin.write("".join(u + "\n" for u in names))
    proc.stdin.close()
    proc.stdin = None  # communicate() below only reads
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ops, _, _ = s.ops_since(mark)
        if sum(v == "MOD" for _, _, v, _ in ops) >= 5:
            break
        time.sleep(0.005)
    s.pause()
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        s.resume()
    oks = re.findall(r"^(p\d+): reset$", out, re.M)
    fails = re.findall(r"^(p\d+): failed: cannot reach the MFA directory \(directory\)$", out,
                       re.M)
    assert oks and fails and len(oks) + len(fails) == len(names), \
        (out, err, d.logtext()[-1500:])
    assert "%d succeeded, %d failed" % (len(oks), len(fails)) in out, out
    assert took < DOWN_MS / 1000 + 2.5, "the rest took %.2f s after the pause" % took
    time.sleep(0.5)  # a modify in flight at the pause lands now
    done = [u for u in names if s.rootdump(fx.token_dn(u)).get("pamTotpStatus") == ["reset"]]
    assert set(oks) <= set(done), "reported reset but not: %s" % (set(oks) - set(done))
    assert len(set(done) - set(oks)) <= 1, "more than the one in flight: %s" % done
    print("     %d reset, %d answered \"directory\" after the pause, in %.2f s"
          % (len(oks), len(fails), took))
    set_timeout(e, 10000)


def test_directory_stopped_then_back(e):
    s, d = e.s, e.d
    s.kill()
    try:
        t0 = time.monotonic()
        p = d.run("admin1", "--yes", "p150", "p151")
        took = time.monotonic() - t0
        expect(p, 1, "reset with slapd killed")
        assert_all_directory_failures(p, ["p150", "p151"])
        assert took < 3, took
    finally:
        s.launch()
    p = d.run("admin1", "--yes", "p150")
    expect(p, 0, "reset once the directory is back")
    assert s.rootdump(fx.token_dn("p150"))["pamTotpStatus"] == ["reset"]


def test_wrong_reset_identity_is_a_clear_error(e):
    s, d = e.s, e.d
    pw = re.search(r'reset_bind_password_file = "([^"]+)"', open(e.cfg).read()).group(1)
    with open(pw) as f:
        good = f.read()
    with open(pw, "w") as f:
        f.write("not-the-password\n")
    try:
        p = d.run("admin1", "--yes", "p140")
        expect(p, 1, "reset with a refused bind")
        assert re.search(r"^p140: failed: the MFA directory refused the reset service "
                         r"\(directory-denied\)", p.stdout, re.M), p.stdout
    finally:
        with open(pw, "w") as f:
            f.write(good)
    assert s.rootdump(fx.token_dn("p140"))["pamTotpStatus"] == ["enrolled"]




def cases():
    fns = [f for n, f in globals().items() if n.startswith("test_") and callable(f)]
    return sorted(fns, key=lambda f: inspect.getsourcelines(f)[1])


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if os.geteuid() != 0 or not (RESETD and RESET and PDRIVER and NSS_WRAPPER):
        print("resetd on ldap: needs root, MFA_RESETD, MFA_RESET, POLICY_DRIVER and "
              "NSS_WRAPPER_LIB; skipped")
        return 77
    failed, tests = [], cases()
    with tempfile.TemporaryDirectory(prefix="pam_totp-resetd-ldap-") as tmp, \
            LoggingSlapd(os.path.join(tmp, "slapd"), with_otp=True) as s:
        os.chmod(tmp, 0o755)  # the clients run as other uids and need the socket
        e = Env(tmp, s)
        try:
            setup(e, tmp)
            for f in tests:
                t0 = time.monotonic()
                try:
                    f(e)
                    print("ok   %s (%.2f s)" % (f.__name__, time.monotonic() - t0))
                except Exception:
                    failed.append(f.__name__)
                    print("FAIL %s" % f.__name__)
                    traceback.print_exc(file=sys.stdout)
                sys.stdout.flush()
            alive = e.d.proc.poll() is None
        finally:
            if hasattr(e, "d"):
                e.d.stop()
        if not alive:
            failed.append("daemon died: " + e.d.logtext()[-2000:])
        bad = [l for l in e.d.logtext().splitlines() if "runtime error" in l or "Sanitizer" in l]
        if bad:
            failed.append("sanitizer: " + "\n".join(bad[:20]))
    print("%d tests, %d failed %s" % (len(tests), len(failed), " ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
