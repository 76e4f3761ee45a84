"""The policy (common/policy.c) over the ldap store, through tests/ldap/policy-driver run as
several hosts against the same slapd: what tests/unit/test_policy.c checks on one host's
files, here across host identities and under concurrency. Uses carol, whom the other case
files leave alone."""
import os
import shutil
import subprocess
import tempfile
import time

from ldap_harness import NEW_SECRET_B32, RESET_CONFIGS, SECRET_B32, oathtool

PDRIVER = os.environ.get("POLICY_DRIVER", "")
USER = "carol"
RECOVERY = "AAAA-BBBB-CCCC-DDDD"


def pdriver(cfg, *args):
    env = dict(os.environ, LDAPNOINIT="1")
    if cfg in RESET_CONFIGS:
        env["MFA_LDAP_ROLE"] = "reset"
    p = subprocess.run([PDRIVER, cfg] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=60, env=env)
    kv = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    if p.stderr:
        kv["stderr"] = p.stderr[-2000:]
    return p.returncode, kv


def prace(cfgs, *args):
    """Every host loads, waits at a barrier, then makes the policy call at once."""
    with tempfile.TemporaryDirectory() as d:
        bar = os.path.join(d, "go")
        env = dict(os.environ, LDAPNOINIT="1", MFA_LDAP_BARRIER=bar)
        procs = [subprocess.Popen([PDRIVER, c] + [str(a) for a in args], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in cfgs]
        time.sleep(1.0)
        open(bar, "w").close()
        res = [p.communicate(timeout=60) for p in procs]
        outs = [dict(l.split("=", 1) for l in o.splitlines() if "=" in l) for o, _ in res]
        for (_, err), p in zip(res, procs):
            assert not err, err[-2000:]  # a sanitizer report fails the case
        return [p.returncode for p in procs], outs


def hosts(e, max_failures):
    """host-a, -b, -c's configs with a lockout setting of their own."""
    key = "p%d" % max_failures
    if not hasattr(e, key):
        cfgs = []
        for src in (e.a, e.b, e.c):
            dst = src.replace(".conf", "-%s.conf" % key)
            shutil.copy(src, dst)
            with open(dst, "a") as f:
                f.write("lockout = { max_failures = %d; lock_seconds = 300; };\n"
                        % max_failures)
            cfgs.append(dst)
        setattr(e, key, cfgs)
    return getattr(e, key)


def fresh_step():
    """The current step, with at least 10 s of it left (a case must not straddle steps)."""
    left = 30 - time.time() % 30
    if left < 10:
        time.sleep(left + 0.2)
    return int(time.time()) // 30


def next_step(cfg):
    """A step above the token's watermark that the window (1) accepts now."""
    s = int(load(cfg)["last_step"]) + 1
    while int(time.time()) // 30 < s - 1 or 30 - time.time() % 30 < 10:
        time.sleep(1)
    return s


def load(cfg):
    rc, kv = pdriver(cfg, "load", USER)
    assert rc == 0, kv
    return kv


def test_policy_claim_race_exactly_one_winner(e):
    cfgs = hosts(e, 0) * 3
    rcs, outs = prace(cfgs, "claim", USER, SECRET_B32, fresh_step() - 5, RECOVERY)
    assert sorted(rcs) == [0] + [3] * (len(cfgs) - 1), (rcs, outs)
    for cfg in hosts(e, 0):
        kv = load(cfg)
        assert kv["status"] == "enrolled" and kv["has_secret"] == "1", kv
        assert kv["n_recovery"] == "1", kv


def test_policy_one_code_one_login_across_hosts(e):
    a, b, c = hosts(e, 0)
    step = fresh_step()
    rc, kv = pdriver(a, "verify", USER, oathtool(SECRET_B32, step))
    assert rc == 0 and kv["outcome"] == "ok-code", kv
    rc, kv = pdriver(b, "verify", USER, oathtool(SECRET_B32, step))
    assert rc == 5 and kv["outcome"] == "replay" and kv["failures"] == "1", kv
    # 20 logins on three hosts with one code: one in, 19 replays, each counted
    rcs, outs = prace([a, b, c] * 6 + [a, b], "verify", USER, oathtool(SECRET_B32, step + 1))
    assert sorted(rcs) == [0] + [5] * 19, (rcs, outs)
    assert sum(o.get("outcome") == "replay" for o in outs) == 19, outs
    assert load(c)["failures"] == "19"
    assert load(a)["last_step"] == str(step + 1)


def test_policy_failures_counted_exactly_under_concurrency(e):
    assert pdriver(e.r, "unlock", USER)[0] == 0
    assert load(e.a)["failures"] == "0"
    wrong = oathtool(SECRET_B32, fresh_step() + 200)
    rcs, outs = prace(hosts(e, 0) * 4, "verify", USER, wrong)
    assert rcs == [5] * 12, (rcs, outs)
    assert sorted(int(o["failures"]) for o in outs) == list(range(1, 13)), outs
    assert load(e.b)["failures"] == "12"
    assert load(e.b)["locked_until"] == "0"  # no lockout configured on these hosts


def test_policy_lockout_holds_on_all_hosts(e):
    a, b, c = hosts(e, 3)
    assert pdriver(e.r, "unlock", USER)[0] == 0
    wrong = oathtool(SECRET_B32, fresh_step() + 200)
    # six at once from three hosts, all judged on the same read (count 0): counted exactly,
    # and every one whose increment reached or passed the lockout at 3 writes it (a host that
    # died between its count and its lockout leaves it to the next), so 3, 4, 5 and 6 lock
    rcs, outs = prace([a, b, c] * 2, "verify", USER, wrong)
    assert rcs == [5] * 6, (rcs, outs)
    assert sorted(int(o["failures"]) for o in outs) == [1, 2, 3, 4, 5, 6], outs
    locks = sorted(int(o["failures"]) for o in outs if o["locked_until"] != "0")
    assert locks == [3, 4, 5, 6], outs
    step = fresh_step()
    for cfg in (a, b, c):
        rc, kv = pdriver(cfg, "verify", USER, oathtool(SECRET_B32, step))
        assert rc == 5 and kv["outcome"] == "locked", kv
        assert int(kv["locked_until"]) > time.time() + 250, kv
        assert pdriver(cfg, "decide", USER, 1)[1]["decision"] == "locked"
    assert load(a)["failures"] == "6"  # the locked attempts were not counted
    rc, kv = pdriver(e.r, "status", USER)  # what mfa-reset --status sees
    assert rc == 0 and kv["failures"] == "6" and kv["has_secret"] == "0", kv
    assert int(kv["locked_until"]) > time.time() + 250, kv
    assert pdriver(e.r, "unlock", USER)[0] == 0
    rc, kv = pdriver(b, "verify", USER, oathtool(SECRET_B32, next_step(b)))
    assert rc == 0 and kv["outcome"] == "ok-code", kv
    assert load(c)["failures"] == "0"


def test_policy_recovery_code_once_fleet_wide(e):
    rcs, outs = prace(hosts(e, 0) * 2, "verify", USER, RECOVERY)
    assert sorted(rcs) == [0] + [5] * 5, (rcs, outs)
    assert sorted(o["outcome"] for o in outs) == ["ok-recovery"] + ["wrong"] * 5, outs
    assert load(e.a)["n_recovery"] == "0"
    assert pdriver(e.r, "unlock", USER)[0] == 0


def test_policy_reset_then_old_key_refused_everywhere(e):
    a, b, c = hosts(e, 0)
    gen = int(load(a)["generation"])
    rc, kv = pdriver(e.r, "reset", USER, "root")
    assert rc == 0, kv
    for cfg in (a, b, c):
        kv = load(cfg)
        assert kv["status"] == "reset" and kv["has_secret"] == "0", kv
        assert kv["reset_by"] == "root" and int(kv["generation"]) == gen + 1, kv
        assert pdriver(cfg, "decide", USER, 0)[1]["decision"] == "enroll"
    rc, kv = pdriver(e.r, "status", USER)  # as the reset service
    assert rc == 0 and kv["status"] == "reset" and kv["reset_by"] == "root", kv
    step = fresh_step()
    rc, kv = pdriver(a, "verify", USER, oathtool(SECRET_B32, step))
    assert rc == 5 and kv["outcome"] == "changed", kv
    # enrollment on b after the reset, on the reset it saw; the old key stays refused
    rc, kv = pdriver(b, "claim", USER, NEW_SECRET_B32, step - 1)
    assert rc == 0, kv
    rc, kv = pdriver(c, "verify", USER, oathtool(SECRET_B32, step))
    assert rc == 5 and kv["outcome"] == "wrong", kv
    rc, kv = pdriver(a, "verify", USER, oathtool(NEW_SECRET_B32, step))
    assert rc == 0 and kv["outcome"] == "ok-code", kv
    # a second claim on the same reset finds the token enrolled: nothing overwritten
    rc, kv = pdriver(c, "claim", USER, SECRET_B32, step)
    assert rc == 1 and kv["result"].startswith("EEXIST"), kv


def test_policy_person_not_in_directory(e):
    a = hosts(e, 0)[0]
    assert pdriver(a, "decide", "nobody", 0)[1]["decision"] == "ignore"
    assert pdriver(a, "decide", "nobody", 1)[1]["decision"] == "no-entry"
    rc, kv = pdriver(a, "claim", "nobody", SECRET_B32, 1)
    assert rc == 1 and kv["result"].startswith("ENOENT"), kv
