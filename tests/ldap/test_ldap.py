"""The ldap store against a real slapd (slapd_fixture.py): the primitives of common/ldap_*.c
through tests/ldap/ldap-driver, run as several hosts (each its own identity and config),
the shipped ACLs checked rule by rule with ldap-utils, the timeouts against a dead, a
paused, a killed and a wrongly certified directory, and the round trip with slapo-otp.

Run by meson (suite ldap) with LDAP_DRIVER set; needs root (slapd, other uids). The cases
run in order (later ones build on earlier state); every case runs even when one fails, and
the exit status says whether all passed."""
import inspect
import os
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases_access  # noqa: E402
import cases_audit  # noqa: E402
import cases_failure  # noqa: E402
import cases_policy  # noqa: E402
import cases_store  # noqa: E402
import slapd_fixture as fx  # noqa: E402
from ldap_harness import DRIVER, RESET_CONFIGS, Env  # noqa: E402


def cases():
    for mod in (cases_store, cases_access, cases_failure, cases_policy, cases_audit):
        fns = [f for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
        yield from sorted(fns, key=lambda f: inspect.getsourcelines(f)[1])


def main():
    # meson ends a test that overruns with SIGTERM: unwind, so the fixture stops slapd.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if os.geteuid() != 0 or not DRIVER:
        print("ldap suite: needs root and LDAP_DRIVER; skipped")
        return 77
    tests = [(f.__name__, f) for f in cases()]
    failed = []
    host_before = cases_audit.host_ldap_state()
    with tempfile.TemporaryDirectory(prefix="pam_totp-ldap-") as tmp, \
            fx.Slapd(os.path.join(tmp, "slapd"), with_otp=True) as s:
        os.chmod(tmp, 0o711)  # the SASL EXTERNAL test runs as another uid
        e = Env(tmp, s)
        e.a = e.config("host-a", dn=fx.host_dn("host-a"))
        e.b = e.config("host-b", dn=fx.host_dn("host-b"))
        e.c = e.config("host-c", dn=fx.host_dn("host-c"))
        e.a_tls = e.config("host-a-tls", uri=s.ldaps, dn=fx.host_dn("host-a"))
        # mfa-resetd's config: host-b's file with the reset identity (reset_* keys)
        e.r = e.config("resetd", dn=fx.host_dn("host-b"), reset_dn=fx.RESET_DN)
        RESET_CONFIGS.add(e.r)
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
    # nothing of the host's own LDAP configuration changed (slapd ran under tmp only)
    if cases_audit.host_ldap_state() != host_before:
        failed.append("host_ldap_config_unchanged")
        print("FAIL host_ldap_config_unchanged: /etc/ldap, /var/lib/ldap or /run/slapd moved")
    print("%d tests, %d failed %s" % (len(tests), len(failed), " ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
