"""The real pam_totp.so on the ldap store: hosts A, B and C are three PAM services, each with
its own config and host identity (host-a over ldapi, host-b over ldaps, host-c over
StartTLS), against one slapd started here (slapd_fixture.py), driven through pam_wrapper
with users and groups from nss_wrapper, codes from oathtool: one code one login fleet-wide
(also with slapo-otp binds), racing logins and enrollments, failures counted exactly and the
lockout on every host, and a directory that cannot be reached failing the login closed.

Run by meson (suite ldap) with the environment of tests/pam; needs root (slapd). The cases
run in order (later ones use the tokens earlier ones enrolled); every case runs even when
one fails, and the exit status says whether all passed."""
import inspect
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cwrap_dirs import remove_pam_wrapper_dirs  # noqa: E402
import slapd_fixture as fx  # noqa: E402
from module_harness import *  # noqa: F401,F403,E402 (the harness is these cases' vocabulary)

# --- the cases ------------------------------------------------------------------------

def test_enroll_on_a_login_on_b_one_code_one_login(e):
    key, step = enroll(e.a, "alice")
    assert token_attrs(e.s, "alice").get("oathTOTPLastTimeStep") == str(step)
    # the code that confirmed the enrollment on A is used: refused on B and on C
    for h in (e.b, e.c):
        r = h.login("alice", "lit:" + oathtool(key, step))
        assert r.code == PAM_AUTH_ERR and r.logged("event=verify", "reason=replay"), r
        assert r.told("already used"), r
    r = e.b.login("alice", "lit:" + oathtool(key, step + 1))
    assert r.code == PAM_SUCCESS and r.logged("event=verify", "result=ok", "reason=code"), r
    # and B's code is refused on A
    r = e.a.login("alice", "lit:" + oathtool(key, step + 1))
    assert r.code == PAM_AUTH_ERR and r.logged("event=verify", "reason=replay"), r
    e.keys["alice"] = (key, step + 1)


def test_enrollment_shows_on_every_host_at_once(e):
    """Enrolled on B: A asks for a code (it does not enroll a second token)."""
    key, step = enroll(e.b, "bob")
    r = e.a.login("bob", "lit:" + oathtool(key, step + 1))
    assert r.code == PAM_SUCCESS, r
    assert not any(i.startswith("Key: ") for i in r.info), r
    e.keys["bob"] = (key, step + 1)


def whoami(e, user, code):
    """A bind to the directory with password and code (slapo-otp): its exit status."""
    return e.s.tool("ldapwhoami", fx.person_dn(user), fx.PASSWORD[user] + code, []).returncode


def test_one_watermark_with_slapo_otp(e):
    """A code used to bind to the directory (slapo-otp) is refused by pam_totp on every host,
    and a code pam_totp accepted no longer binds: one replay watermark."""
    key, step = e.keys["bob"]  # step: the last code pam_totp accepted
    assert whoami(e, "bob", oathtool(key, step)) == 49
    assert whoami(e, "bob", oathtool(key, step + 1)) == 0
    assert token_attrs(e.s, "bob").get("oathTOTPLastTimeStep") == str(step + 1)
    for h in (e.a, e.b):
        r = h.login("bob", "lit:" + oathtool(key, step + 1))
        assert r.code == PAM_AUTH_ERR and r.logged("event=verify", "reason=replay"), r
    r = e.c.login("bob", "lit:" + oathtool(key, step + 2))
    assert r.code == PAM_SUCCESS, r
    assert whoami(e, "bob", oathtool(key, step + 2)) == 49
    e.keys["bob"] = (key, step + 2)


def test_reset_forces_enrollment_on_every_host(e):
    """The reset service's identity resets bob (the directory primitive mfa-resetd uses):
    host B enrolls him anew and says who asked; the old key opens nothing anywhere."""
    old, step = e.keys["bob"]
    p = subprocess.run([os.environ["LDAP_DRIVER"], e.resetter, "reset", "bob", "admin1"],
                       env=dict(os.environ, LDAPNOINIT="1", MFA_LDAP_ROLE="reset"),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert token_attrs(e.s, "bob").get("pamTotpStatus") == "reset"
    p = e.b.start("bob", "lit:" + oathtool(old, step + 1))  # the old key: not a confirmation
    assert "admin1 asked for a new authenticator token" in p.seen, p.seen
    assert "Wrong code, try again" in p.seen, p.seen
    key = re.search(r"^INFO Key: ([A-Z2-7 ]+) \(", p.seen, re.M).group(1).replace(" ", "")
    assert key != old
    now = int(time.time()) // 30
    r = answer(p, oathtool(key, now))
    assert r.code == PAM_SUCCESS and r.logged("event=enroll", "result=ok", "reason=reset"), r
    for h in (e.a, e.c):
        r = h.login("bob", "lit:" + oathtool(old, step + 1))
        assert r.code == PAM_AUTH_ERR and r.logged("reason=wrong-code"), r
    r = e.a.login("bob", "lit:" + oathtool(key, now + 1))
    assert r.code == PAM_SUCCESS, r


def test_enrollment_race_across_hosts_saves_one_token(e):
    """erin enrolls on A and on B at once, each with the key its screen shows: exactly one
    token is saved, the other login is told nothing was saved; only the saved key works."""
    procs = [h.start("erin") for h in (e.a, e.b)]
    keys = [re.search(r"^INFO Key: ([A-Z2-7 ]+) \(", p.seen, re.M).group(1).replace(" ", "")
            for p in procs]
    step = int(time.time()) // 30
    try:
        for p, k in zip(procs, keys):
            p.stdin.write(oathtool(k, step) + "\n")
            p.stdin.flush()
        results = [answer(p, "") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = [r.code for r in results]
    print("  two enrollments racing on A and B: %s" % codes)
    assert sorted(codes) == [PAM_SUCCESS, 6], [str(r) for r in results]  # 6: PERM_DENIED
    won = codes.index(PAM_SUCCESS)
    lost = results[1 - won]
    assert lost.told("changed meanwhile") and lost.logged("reason=state-changed"), lost
    r = e.c.login("erin", "lit:" + oathtool(keys[1 - won], step + 1))
    assert r.code == PAM_AUTH_ERR and r.logged("reason=wrong-code"), r
    r = e.c.login("erin", "lit:" + oathtool(keys[won], step + 1))
    assert r.code == PAM_SUCCESS, r


def test_racing_logins_on_three_hosts_one_code_one_success(e):
    key, step = enroll(e.a, "carol")
    code = oathtool(key, step + 1)
    procs = [h.start("carol") for h in (e.a, e.b, e.c) * 7][:20]
    try:
        for p in procs:
            p.stdin.write(code + "\n")
            p.stdin.flush()
        results = [answer(p, "") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = [r.code for r in results]
    print("  20 logins on 3 hosts, one code: %s" % codes)
    assert codes.count(PAM_SUCCESS) == 1 and codes.count(PAM_AUTH_ERR) == 19, \
        "%s\n%s" % (codes, "\n".join(str(r) for r in results[:2]))
    # each refusal a replay, until the replays reach max_failures: then locked out
    refused = [r for r in results if r.logged("event=verify", "reason=replay") or
               r.logged("event=verify", "reason=locked-out")]
    assert len(refused) == 19, [str(r) for r in results]
    e.keys["carol"] = (key, step + 1)


def test_concurrent_wrong_codes_count_exactly_and_lock_every_host(e):
    key, step = enroll(e.c, "dave")
    wrong = "%06d" % ((int(oathtool(key, step + 1)) + 500000) % 1000000)
    n = MAX_FAILURES - 2
    procs = [h.start("dave") for h in (e.a, e.b, e.c, e.a, e.b, e.c, e.a, e.b)[:n]]
    try:
        for p in procs:  # every answer reaches the module at once
            p.stdin.write(wrong + "\n")
            p.stdin.flush()
        results = [answer(p, "") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(r.code == PAM_AUTH_ERR for r in results), [str(r) for r in results]
    counts = sorted(int(re.search(r"failures=(\d+)", l).group(1))
                    for r in results for l in r.log if "event=verify" in l)
    print("  %d concurrent wrong codes on 3 hosts: counts %s" % (n, counts))
    assert counts == list(range(1, n + 1)), counts
    assert token_attrs(e.s, "dave").get("oathFailureCount") == str(n), token_attrs(e.s, "dave")
    for h in (e.b, e.c):  # the 9th and the 10th: the 10th locks
        r = h.login("dave", "lit:" + wrong)
        assert r.code == PAM_AUTH_ERR, r
    assert r.logged("event=lockout", "user='dave'", "until="), r
    assert r.told("locked until"), r
    # the good code is refused on every host now, without a failure counted
    for h in (e.a, e.b, e.c):
        r = h.login("dave", "lit:" + oathtool(key, step + 1))
        assert r.code == PAM_AUTH_ERR and r.told("locked until"), r
        assert r.logged("event=verify", "reason=locked-out"), r
    assert token_attrs(e.s, "dave").get("oathFailureCount") == str(MAX_FAILURES)


def set_token(e, user, **attrs):
    """Writes the token's attributes as the rootDN (None deletes), as another host would
    have left them."""
    change = "".join("replace: %s\n%s-\n" % (a, "" if v is None else "%s: %s\n" % (a, v))
                     for a, v in attrs.items())
    r = e.s.tool("ldapmodify", None, None, ["-Y", "EXTERNAL"],
                 stdin="dn: %s\nchangetype: modify\n%s" % (fx.token_dn(user), change))
    assert r.returncode == 0, r.stderr


def gentime(t):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))


def carol_fresh(e, failures):
    """carol enrolled, failures counted and none locked, and a code for now unused: the
    key and the current step."""
    key, _ = e.keys["carol"]
    now = int(time.time())
    set_token(e, "carol", oathFailureCount=failures, oathLastFailure=gentime(now - 60),
              pamTotpLockedUntil=None, oathTOTPLastTimeStep=now // 30 - 3)
    return key, now // 30


def refused_locked(r):
    assert r.code == PAM_AUTH_ERR and r.told("locked until"), r
    assert r.logged("event=verify", "reason=locked-out") or \
        r.logged("event=auth", "reason=locked-out"), r


def test_lockout_counted_but_not_yet_written_locks(e):
    """The directory counts a failure and writes its lockout in two writes: a host that dies
    between them (or has not written yet) leaves the count at max_failures and no lockout.
    That count locks anyway, from that failure on; once that lockout is over, logins open."""
    key, step = carol_fresh(e, MAX_FAILURES)
    set_token(e, "carol", oathLastFailure=gentime(time.time()))
    r = e.a.login("carol", "lit:" + oathtool(key, step))
    refused_locked(r)
    assert token_attrs(e.s, "carol")["oathTOTPLastTimeStep"] == str(step - 3)
    # a lockout that would be over by now (lock_seconds = 300) is no lockout
    set_token(e, "carol", oathLastFailure=gentime(time.time() - 301))
    r = e.b.login("carol", "lit:" + oathtool(key, step))
    assert r.code == PAM_SUCCESS, r


def test_lockout_reached_while_the_person_types(e):
    """A login held at its prompt on a view with max_failures - 1 failures; another host
    counts the one that reaches the lockout and has not written it yet: the good code typed
    now is refused (its write asserted the count it was judged on, and the re-read is at a
    lockout). A failure that reaches no lockout only makes the login read again."""
    key, step = carol_fresh(e, 3)
    p = e.b.start("carol")
    set_token(e, "carol", oathFailureCount=4, oathLastFailure=gentime(time.time()))
    r = answer(p, oathtool(key, step))
    assert r.code == PAM_SUCCESS, r
    key, step = carol_fresh(e, MAX_FAILURES - 1)
    p = e.c.start("carol")
    set_token(e, "carol", oathFailureCount=MAX_FAILURES, oathLastFailure=gentime(time.time()))
    r = answer(p, oathtool(key, step))
    refused_locked(r)
    assert token_attrs(e.s, "carol")["oathTOTPLastTimeStep"] == str(step - 3)
    # a wrong code judged on that old view passes the lockout its host never wrote: it
    # writes it (the count went from 9 past 10)
    key, step = carol_fresh(e, MAX_FAILURES - 1)
    p = e.a.start("carol")
    set_token(e, "carol", oathFailureCount=MAX_FAILURES, oathLastFailure=gentime(time.time()))
    r = answer(p, "%06d" % ((int(oathtool(key, step)) + 500000) % 1000000))
    assert r.code == PAM_AUTH_ERR and r.told("locked until"), r
    attrs = token_attrs(e.s, "carol")
    assert attrs["oathFailureCount"] == str(MAX_FAILURES + 1) and \
        "pamTotpLockedUntil" in attrs, attrs
    set_token(e, "carol", oathFailureCount=0, pamTotpLockedUntil=None)


def test_recovery_code_on_a_view_before_the_lockout_is_refused(e):
    """A login held at its prompt on a view below the lockout; meanwhile other hosts count
    the failure that reaches it (its lockout written, or not yet): a good recovery code typed
    now is refused like a good code (its write asserts the count it was judged on) and stays
    usable. Otherwise every held prompt would get a recovery guess past max_failures."""
    p = subprocess.run([os.environ["LDAP_DRIVER"], e.resetter, "reset", "carol", "admin1"],
                       env=dict(os.environ, LDAPNOINIT="1", MFA_LDAP_ROLE="reset"),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    p = e.a.start("carol")
    key = re.search(r"^INFO Key: ([A-Z2-7 ]+) \(", p.seen, re.M).group(1).replace(" ", "")
    r = answer(p, oathtool(key, int(time.time()) // 30))
    assert r.code == PAM_SUCCESS, r
    codes = [i.strip() for i in r.info if re.fullmatch(r"\s+[A-Z0-9-]{8,}", i)]
    assert len(codes) == 3, r
    e.keys["carol"] = (key, int(time.time()) // 30)
    for lock in (None, gentime(time.time() + 300)):
        carol_fresh(e, MAX_FAILURES - 1)
        p = e.b.start("carol")
        set_token(e, "carol", oathFailureCount=MAX_FAILURES,
                  oathLastFailure=gentime(time.time()), pamTotpLockedUntil=lock)
        r = answer(p, codes[0])
        refused_locked(r)
        attrs = token_attrs(e.s, "carol")
        assert attrs["oathFailureCount"] == str(MAX_FAILURES), attrs
    set_token(e, "carol", oathFailureCount=0, pamTotpLockedUntil=None)
    r = e.c.login("carol", "lit:" + codes[0])
    assert r.code == PAM_SUCCESS and r.logged("event=verify", "result=ok"), r


def test_failure_count_past_a_million_still_read(e):
    """Failures are counted for good (with lockouts off, or over the years): a count past
    1000000 still reads, so the person still logs in and can be unlocked; it once made the
    entry malformed, refused to every login and to mfa-resetd's unlock and reset alike."""
    key, step = carol_fresh(e, 1000000)
    set_token(e, "carol", oathLastFailure=gentime(time.time() - 400))
    r = e.a.login("carol", "lit:%06d" % ((int(oathtool(key, step)) + 500000) % 1000000))
    assert r.code == PAM_AUTH_ERR and r.logged("event=verify", "reason=wrong-code"), r
    assert token_attrs(e.s, "carol")["oathFailureCount"] == "1000001"
    r = e.b.login("carol", "lit:" + oathtool(key, step))
    assert r.code == PAM_SUCCESS, r
    assert token_attrs(e.s, "carol")["oathFailureCount"] == "0"


def test_person_without_directory_entry_is_refused(e):
    r = e.a.login("frank", "lit:000000")
    assert r.code == PAM_AUTH_ERR, r
    assert r.logged("event=enroll", "user='frank'", "reason=no-directory-entry"), r
    assert not any(i.startswith("Key: ") for i in r.info), r


def unreachable(r, why):
    assert r.code == PAM_AUTHINFO_UNAVAIL, r
    assert r.told(UNREACHABLE), r
    assert r.logged("result=error", "reason=directory", why), r
    assert r.seconds < BOUND_S, r
    print("    " + next(l for l in r.log if "reason=directory" in l))


def test_nothing_listening_fails_closed(e):
    h = e.host("dead", "host-a", "ldaps://127.0.0.1:%d" % fx.free_port(), timeout_ms=SHORT_MS)
    r = h.login("alice", "lit:000000")
    print("  nothing listening: %d in %.2f s" % (r.code, r.seconds))
    unreachable(r, "detail='ldaps://127.0.0.1")


def test_wrong_ca_fails_closed(e):
    h = e.host("wrongca", "host-b", e.s.ldaps, ca=e.s.other_ca, timeout_ms=SHORT_MS)
    r = h.login("alice", "lit:000000")
    print("  wrong CA: %d in %.2f s" % (r.code, r.seconds))
    unreachable(r, "error='Protocol error'")


def test_paused_directory_fails_closed_within_the_timeout(e):
    hosts = [e.host("paused-" + n, "host-a", u, timeout_ms=SHORT_MS)
             for n, u in (("ldapi", e.s.ldapi), ("ldaps", e.s.ldaps))]
    e.s.pause()
    try:
        for h in hosts:
            r = h.login("alice", "lit:000000")
            print("  slapd stopped, %s: %d in %.2f s" % (h.name, r.code, r.seconds))
            unreachable(r, "error='Connection timed out'")
            assert r.seconds >= SHORT_MS / 1000 * 0.9, r
    finally:
        e.s.resume()


def test_directory_stopped_while_the_person_types(e):
    """Loaded, then the directory stops before the answer is stored: a good code is no
    success when it cannot be stored, and the deadline starts after the prompt."""
    key, step = e.keys["alice"]
    h = e.host("paused-mid", "host-a", e.s.ldapi, timeout_ms=SHORT_MS)
    p = h.start("alice")
    time.sleep(SHORT_MS / 1000 * 1.5)  # longer than the timeout: rearmed after the prompt
    e.s.pause()
    try:
        r = answer(p, oathtool(key, step + 1))
    finally:
        e.s.resume()
    print("  slapd stopped at the prompt: %d in %.2f s" % (r.code, r.seconds))
    unreachable(r, "reason=directory")
    # The modify sent before the deadline may still land when slapd wakes (the code is then
    # used up); either way that code opens at most one login, never the refused one's too.
    codes = [e.a.login("alice", "lit:" + oathtool(key, step + 1)).code for _ in range(2)]
    print("  the same code after slapd woke: %s" % codes)
    assert codes.count(PAM_SUCCESS) <= 1 and codes[1] == PAM_AUTH_ERR, codes
    e.keys["alice"] = (key, step + 1)


def test_never_falls_back_to_the_files(e):
    """A state file enrolled with a known key in the host's state_dir: with the directory
    down that key opens nothing."""
    h = e.host("fallback", "host-a", "ldaps://127.0.0.1:%d" % fx.free_port(),
               timeout_ms=SHORT_MS)
    key = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    subprocess.run([os.environ["STATE_TOOL"], "enroll", h.state_dir, "erin", key], check=True)
    r = h.login("erin", "lit:" + oathtool(key, int(time.time()) // 30))
    unreachable(r, "reason=directory")

def test_tcp_connection_sends_without_delay(e):
    """The module opens its own TCP socket (ldap_init_fd), so libldap does not set TCP_NODELAY
    on it as on its own: Nagle's algorithm then held the bind request behind the last record
    of the TLS handshake until slapd's delayed ACK, 40 ms every ldaps:// login. (A login that
    reads the token over ldaps:// and is answered with something that is not a code.)"""
    trace = os.path.join(e.tmp, "setsockopt.trace")
    argv = ["strace", "-f", "-qq", "-e", "trace=setsockopt", "-o", trace] + \
        e.b.argv("erin", ["lit:not-a-code"], APP)
    p = subprocess.run(argv, env=e.b.env, capture_output=True, text=True, timeout=120)
    r = Result(p.stdout, p.stderr, 0)
    assert "PROMPT Verification code" in r.out and r.code != PAM_SUCCESS, r
    with open(trace) as f:
        calls = f.read()
    assert "TCP_NODELAY, [1]" in calls, "no TCP_NODELAY on the ldaps:// socket:\n" + calls


def test_malformed_token_refused_and_named_in_the_log(e):
    """A token entry another tool wrote with a negative watermark: the login fails closed
    (not as an outage) and the log line names the attribute an administrator must fix."""
    e.s.as_root(fx.enrolled_person_ldif("gina", b"a token another tool wrote",
                                        oathTOTPLastTimeStep="-5"))
    try:
        r = e.a.login("gina", "lit:000000")
        assert r.code == PAM_AUTH_ERR and not r.told(UNREACHABLE), r
        assert r.logged("user='gina'", "reason=directory", "oathTOTPLastTimeStep"), r
        print("    " + next(l for l in r.log if "reason=directory" in l))
    finally:
        e.s.as_root("dn: %s\nchangetype: delete\n\ndn: %s\nchangetype: delete\n"
                    % (fx.token_dn("gina"), fx.person_dn("gina")))


def test_two_people_with_one_name_refused_as_unreadable(e):
    """A second person entry that also answers to uid=bob: the login fails closed, tells bob
    to ask an administrator (not that the directory is down), and the log says why."""
    dup = "uid=bob-twin,ou=people," + fx.SUFFIX
    e.s.as_root("dn: %s\nchangetype: add\nobjectClass: inetOrgPerson\n"
                "objectClass: posixAccount\nuid: bob-twin\nuid: bob\ncn: x\nsn: x\n"
                "uidNumber: 2998\ngidNumber: 2000\nhomeDirectory: /nonexistent\n" % dup)
    try:
        r = e.b.login("bob", "lit:000000")
        assert r.code == PAM_AUTH_ERR and not r.told(UNREACHABLE), r
        assert r.told("cannot be read; contact an administrator"), r
        assert r.logged("user='bob'", "reason=directory", "more than 1 entry"), r
    finally:
        e.s.as_root("dn: %s\nchangetype: delete\n" % dup)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    need = ("PAM_TOTP_MODULE", "PAM_DRIVER", "PAM_WRAPPER_LIB", "NSS_WRAPPER_LIB", "STATE_TOOL",
            "LDAP_DRIVER")
    if os.geteuid() != 0 or not all(os.environ.get(k) for k in need):
        print("ldap module suite: needs root and the pam test environment; skipped")
        return 77
    tests = [(n, f) for n, f in sorted(
        ((n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)),
        key=lambda nf: inspect.getsourcelines(nf[1])[1])]
    failed = []
    with tempfile.TemporaryDirectory(prefix="pam_totp-ldap-module-") as tmp, \
            fx.Slapd(os.path.join(tmp, "slapd")) as s:
        os.chmod(tmp, 0o711)
        e = Env(tmp, s)
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
    remove_pam_wrapper_dirs(tmp + "/")
    print("%d tests, %d failed %s" % (len(tests), len(failed), " ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
