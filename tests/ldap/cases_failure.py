"""Never a hang, never a crash: nothing listening, wrong CA, a paused or killed slapd.
Every config here has timeout_ms = TIMEOUT_MS (1 s); bounds are asserted at 3x."""
import os
import subprocess
import tempfile
import time

import slapd_fixture as fx
from ldap_harness import *  # noqa: F401,F403 (the harness is these cases' vocabulary)

# --- timeouts: never a hang ------------------------------------------------------------

def short(e):
    """host-a over ldapi and over ldaps with the short timeout."""
    return [e.config("short-" + n, uri=u, dn=fx.host_dn("host-a"), timeout_ms=TIMEOUT_MS)
            for n, u in (("ldapi", e.s.ldapi), ("ldaps", e.s.ldaps))]


def timed(cfg, *args):
    t0 = time.monotonic()
    rc, kv = driver(cfg, *args)
    return rc, kv, time.monotonic() - t0


def test_nothing_listening_fails_fast(e):
    for uri in ("ldaps://127.0.0.1:%d" % fx.free_port(), "ldapi://%2Fnonexistent%2Fsock"):
        cfg = e.config("dead", uri=uri, dn=fx.host_dn("host-a"), timeout_ms=TIMEOUT_MS)
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
    cfg = e.config("wrongca", uri=e.s.ldaps, dn=fx.host_dn("host-a"), ca=e.s.other_ca,
                   timeout_ms=TIMEOUT_MS)
    rc, kv, dt = timed(cfg, "load", "alice")
    print("  wrong CA: %s in %.2f s" % (kv.get("result"), dt))
    assert rc == 1 and kv["result"] == "EPROTO", kv
    assert dt < 3 * TIMEOUT_MS / 1000


def test_paused_directory_times_out(e):
    e.s.pause()
    try:
        for uri, how in ((e.s.ldapi, "ldapi"), (e.s.ldaps, "ldaps"), (e.s.ldap, "StartTLS")):
            cfg = e.config("paused-" + how, uri=uri, dn=fx.host_dn("host-a"),
                           timeout_ms=TIMEOUT_MS)
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
                                  stdout=subprocess.PIPE) for c in short(e)]
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
                                  stdout=subprocess.PIPE) for c in short(e)]
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
