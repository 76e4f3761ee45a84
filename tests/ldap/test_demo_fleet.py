"""scripts/demo --fleet, run as a person would run it (not interactive) on the suite's own
build: it must exit 0, tell every step of the fleet story in order with the outcome each
step promises (an OK or REFUSED line), and leave nothing behind (its slapd stopped, its
sandbox removed). Root only (slapd, setpriv); skipped with exit 77 otherwise."""
import os
import re
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (what the demo must print, in this order); a REFUSED where an OK belongs fails the test
EXPECTED = [
    r"^==> The sandbox: one directory, two hosts, one reset daemon$",
    r"^    slapd \(pid \d+\) with the otp overlay",
    r"^==> alice logs in on host A for the first time: pam_totp enrolls her$",
    r"^    Key: [A-Z2-7 ]+ \(SHA1, 6 digits, 30 seconds\)$",
    r"^    OK: alice is enrolled on host A",
    r"^==> alice logs in on host B with the next code of the same app$",
    r"^    OK: alice is logged in on host B$",
    r"^==> the code alice just used on host B, typed again on host A$",
    r"^    That code was already used",
    r"^    REFUSED: host A refuses it: one code, one login, across the fleet$",
    r"^==> alice binds to the directory with her password \+ code \(slapo-otp\)$",
    r"^    dn:uid=alice,ou=people,dc=example,dc=test$",
    r"^    OK: the directory bound alice with password \+ code$",
    r"^==> that code again, at pam_totp on host A$",
    r"^    That code was already used",
    r"^    REFUSED: pam_totp refuses it: the directory bind spent it$",
    r"^==> alice has lost her phone\. bob, an administrator, resets her token on host B$",
    r"^    alice: reset$",
    r"^    mfa-resetd: event=reset actor='bob' uid=2001 target='alice' result=ok$",
    r"^    OK: mfa-reset exited 0",
    r"^    alice +reset pending \(by bob at ",
    r"^==> carol is not an administrator",
    r"^    mfa-reset: not authorized",
    r"^    mfa-resetd: event=reset actor='carol' uid=2002 target='alice' result=refused "
    r"reason=not-admin$",
    r"^    REFUSED: mfa-reset exited 3",
    r"^==> alice logs in on host A: it sends her to enrollment$",
    r"^    bob asked for a new authenticator token",
    r"^    Wrong code, try again",
    r"^    REFUSED: the old key opens nothing",
    r"^==> alice logs in on host B: it sends her to enrollment too, and she enrolls there$",
    r"^    bob asked for a new authenticator token",
    r"^    Token saved\.",
    r"^    OK: alice is enrolled again, with a new key, and logged in on host B$",
    r"^==> alice logs in on host A with the next code of her new key$",
    r"^    OK: alice is logged in on host A",
    r"^==> bob lists, from host B, every person with a token: the directory's view$",
    r"^    alice +enrolled \(since ",
    r"^    1 shown, 0 failed$",
    r"^==> That was the real pam_totp\.so, mfa-resetd, mfa-reset and slapd\.",
]


def check_story(out):
    """Every expected line, in order; returns the list of what is missing."""
    lines, at, missing = out.splitlines(), 0, []
    for pattern in EXPECTED:
        rx = re.compile(pattern)
        for i in range(at, len(lines)):
            if rx.search(lines[i]):
                at = i + 1
                break
        else:
            missing.append(pattern)
    return missing


def main():
    build = os.environ.get("PAM_TOTP_DEMO_BUILD")
    if os.geteuid() != 0 or not build:
        print("demo --fleet: needs root and the build directory; skipped")
        return 77
    with tempfile.TemporaryDirectory(prefix="pam_totp-demo-test-") as tmp:
        os.chmod(tmp, 0o711)  # as /tmp is: the clients (other uids) reach the daemon's socket
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(SRC, "scripts", "demo"), "--fleet"],
                           env=dict(os.environ, TMPDIR=tmp), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=400)
        print(p.stdout)
        print(p.stderr, file=sys.stderr)
        print("demo --fleet: exit %d in %.1f s" % (p.returncode, time.monotonic() - t0))
        failed = []
        if p.returncode != 0:
            failed.append("exit status %d" % p.returncode)
        missing = check_story(p.stdout)
        failed += ["missing or out of order: %s" % m for m in missing]
        if re.search(r"^    REFUSED: .*(enrolled|logged in|bound)", p.stdout, re.M):
            failed.append("a step that must succeed was refused")
        left = os.listdir(tmp)
        if left:
            failed.append("sandbox left behind: %s" % left)
        ps = subprocess.run(["pgrep", "-af", "slapd.*" + tmp], capture_output=True, text=True)
        if ps.stdout.strip():
            failed.append("slapd still running: %s" % ps.stdout.strip())
    for f in failed:
        print("FAIL " + f)
    print("demo --fleet: %s" % ("FAILED" if failed else "ok, %d lines checked" % len(EXPECTED)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
