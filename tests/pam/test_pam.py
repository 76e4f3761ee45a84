#!/usr/bin/env python3
"""The built pam_totp.so through a real PAM stack (pam_wrapper), users and groups from
nss_wrapper, codes from liboath (pam_driver, state_tool). One behaviour per test function;
meson runs each `def test_NAME(` as its own test: test_pam.py NAME.

Environment (set by meson): PAM_TOTP_MODULE, PAM_DRIVER, STATE_TOOL, PAM_TEST_DIR (passwd,
group), PAM_WRAPPER_LIB, NSS_WRAPPER_LIB, HAVE_QRENCODE, optionally VALGRIND."""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cwrap_dirs import remove_pam_wrapper_dirs  # noqa: E402

PAM_SUCCESS = 0
PAM_AUTH_ERR = 7
PAM_AUTHINFO_UNAVAIL = 9
PAM_USER_UNKNOWN = 10
PAM_CONV_ERR = 19
# The stack turns the module's PAM_IGNORE into this code (pam_debug.so auth=maxtries on the
# next line), so "ignored" is told apart from both success and failure.
IGNORED = 11
FAIL_CLOSED = (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL)
PAM_PERM_DENIED = 6
PAM_CRED_ERR = 17
# What a login application calls (login, su, sshd): pam_authenticate, and only after it
# succeeded pam_acct_mgmt and pam_setcred (the driver stops at the first failure).
APP = "auth,acct,cred"

# Keys and service names differ in every test run: pam_wrapper 1.1 picks its copy of the
# service dir (/tmp/pam.X) racily, so two processes may share one; with distinct names and keys
# such a mix-up can only make a test fail, never pass. meson also runs these tests serially.
KEY = base64.b32encode(os.urandom(20)).decode()
OTHER_KEY = base64.b32encode(os.urandom(20)).decode()
SERVICE = "pam_totp_test_%d_%s" % (os.getpid(), KEY[:8].lower())

CONFIG = """issuer = "Test Corp";
state_dir = "{state_dir}";
totp = {{ algorithm = "SHA1"; digits = 6; period = 30; window = 1; }};
enforce = {{ all = false; users = []; groups = [ "mfa-users" ]; exempt_groups = [ "mfa-exempt" ]; }};
enrollment = {{ allow = {allow}; qr = true; recovery_codes = 3; reset_expires = {expires}; }};
lockout = {{ max_failures = 3; lock_seconds = 300; }};
"""


class Failure(Exception):
    pass


def check(cond, what, *context):
    if not cond:
        raise Failure(what + "".join("\n--- " + str(c) for c in context))


class Result:
    def __init__(self, out, err):
        self.out = out
        self.err = err
        m = re.search(r"^RESULT (\d+)", out, re.M)
        self.code = int(m.group(1)) if m else None
        self.info = re.findall(r"^INFO (.*)$", out, re.M)
        self.errors = re.findall(r"^ERROR (.*)$", out, re.M)
        self.prompts = re.findall(r"^PROMPT (.*)$", out, re.M)
        self.ops = [(op, int(c)) for op, c in re.findall(r"^OP (\w+) (-?\d+)$", out, re.M)
                    if op != "pause"]
        # pam_syslog() lines, which pam_wrapper prints to stderr (PAM_WRAPPER_DEBUGLEVEL)
        self.log = re.findall(r"SYSLOG\(\d\): (.*)$", err, re.M)

    def logged(self, *words):
        return any(all(w in line for w in words) for line in self.log)

    def key(self):
        for line in self.info:
            if line.startswith("Key: "):
                return line[5:].split("(")[0].replace(" ", "")
        return None

    def recovery_codes(self):
        return [c for line in self.info for c in re.findall(r"^  ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})$", line)]

    def leaked(self):
        """The secrets of this run (the test keys, the key shown, every answer typed, the
        recovery codes shown) that a log line of the module holds."""
        shown = [m[5:].split(" (")[0] for m in self.info if m.startswith("Key: ")]
        words = [KEY, OTHER_KEY] + shown + [k.replace(" ", "") for k in shown]
        words += [c for c in re.findall(r"^ANSWERED (.*)$", self.out, re.M) if c]
        words += self.recovery_codes() + [c.replace("-", "") for c in self.recovery_codes()]
        found = []
        for w in set(words):
            pattern = r"(?<![0-9A-Za-z])%s(?![0-9A-Za-z])" % re.escape(w)
            found += [(w, line) for line in self.log if re.search(pattern, line, re.I)]
        return found

    def __str__(self):
        return "code=%s\nstdout:\n%s\nstderr:\n%s" % (self.code, self.out, self.err)


class Env:
    """A private state dir, config and PAM service in a temp dir."""

    def __init__(self, allow="true", expires=0, config=None, args="", stack=None):
        self.dir = tempfile.mkdtemp(prefix="pam_totp-test-")
        self.state_dir = os.path.join(self.dir, "state")
        os.mkdir(self.state_dir, 0o700)
        os.chmod(self.state_dir, 0o700)
        self.config = os.path.join(self.dir, "pam_totp.conf")
        with open(self.config, "w") as f:
            f.write(config if config is not None else
                    CONFIG.format(state_dir=self.state_dir, allow=allow, expires=expires))
        pamd = os.path.join(self.dir, "pam.d")
        os.mkdir(pamd)
        # The account line writes a confirmed enrollment (the module's documented stack).
        if stack is None:
            stack = ("auth [success=done ignore=ignore default=die] {module} {args}\n"
                     "auth requisite pam_debug.so auth=maxtries\n"
                     "account required pam_permit.so\n"
                     "account required {module} {args}\n")
        with open(os.path.join(pamd, SERVICE), "w") as f:
            f.write(stack.format(module=os.environ["PAM_TOTP_MODULE"],
                                 args="config=%s %s" % (self.config, args)))
        self.env = dict(os.environ)
        self.env.update({
            "LD_PRELOAD": "%s %s" % (os.environ["PAM_WRAPPER_LIB"], os.environ["NSS_WRAPPER_LIB"]),
            "PAM_WRAPPER": "1",
            "PAM_WRAPPER_SERVICE_DIR": pamd,
            "PAM_WRAPPER_DEBUGLEVEL": "3",
            "NSS_WRAPPER_PASSWD": os.path.join(os.environ["PAM_TEST_DIR"], "passwd"),
            "NSS_WRAPPER_GROUP": os.path.join(os.environ["PAM_TEST_DIR"], "group"),
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "verify_asan_link_order=0"),
            # RTLD_DEEPBIND cannot work with the sanitizer runtime; pam_wrapper 1.1.x reads
            # its switch under uid_wrapper's name
            "UID_WRAPPER_DISABLE_DEEPBIND": "1",
            "PAM_WRAPPER_DISABLE_DEEPBIND": "1",
            "NSS_WRAPPER_DISABLE_DEEPBIND": "1",
        })

    def close(self):
        remove_pam_wrapper_dirs(self.dir + "/")
        shutil.rmtree(self.dir, ignore_errors=True)

    def argv(self, user, answers, flags, key, ops=APP):
        argv = [os.environ["PAM_DRIVER"], "-o", ops] + list(flags)
        if key:
            argv += ["-k", key]
        argv += [SERVICE, user] + list(answers)
        if os.environ.get("VALGRIND"):
            argv = [os.environ["VALGRIND"], "--leak-check=full", "--error-exitcode=42",
                    "--errors-for-leak-kinds=definite,indirect", "--quiet"] + argv
        return argv

    def login(self, user, *answers, flags=(), key=KEY, ops=APP):
        p = subprocess.run(self.argv(user, answers, flags, key, ops), env=self.env,
                           capture_output=True, text=True, timeout=120)
        r = Result(p.stdout, p.stderr)
        check(p.returncode == 0, "driver exited %d" % p.returncode, r)
        check(r.code is not None, "no result", r)
        check(not r.leaked(), "a secret in the log: %s" % r.leaked(), r)
        return r

    def start(self, user, *answers, key=KEY, ops=APP, flags=()):
        return subprocess.Popen(self.argv(user, answers, flags, key, ops), env=self.env,
                                text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def tool(self, *args):
        p = subprocess.run([os.environ["STATE_TOOL"]] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "state_tool %s: %d %s" % (args, p.returncode, p.stderr))
        return p.stdout.strip()

    def show(self, user):
        return self.tool("show", self.state_dir, user)

    def enroll(self, user, key=KEY):
        self.tool("enroll", self.state_dir, user, key)

    def code(self, key=KEY, offset=0):
        return self.tool("code", key, offset)

    def state_file(self, user):
        return os.path.join(self.state_dir, user)


def field(show, name):
    m = re.search(r"\b%s=(-?\d+)" % name, show)
    check(m is not None, "no %s in %r" % (name, show))
    return int(m.group(1))


# --- verification ---------------------------------------------------------------------

def test_good_code(e):
    e.enroll("alice")
    r = e.login("alice", "code:0")
    check(r.code == PAM_SUCCESS, "good code refused", r)
    check(r.prompts == ["Verification code: "], "prompt", r)
    check(r.logged("event=verify", "user='alice'", "result=ok", "reason=code"), "no log", r)
    check(field(e.show("alice"), "last_step") >= 0, "step not stored", e.show("alice"))


def test_next_step_code(e):
    e.enroll("alice")
    r = e.login("alice", "code:1")
    check(r.code == PAM_SUCCESS, "next-step code refused", r)


def test_replayed_code(e):
    e.enroll("alice")
    code = e.code()
    check(e.login("alice", "lit:" + code).code == PAM_SUCCESS, "first use refused")
    r = e.login("alice", "lit:" + code)
    check(r.code == PAM_AUTH_ERR, "replayed code accepted", r)
    check(field(e.show("alice"), "failures") == 1, "replay not counted", e.show("alice"))
    check(r.logged("event=verify", "user='alice'", "result=fail", "reason=replay"),
          "replay not logged", r)
    check(not any(code in line for line in r.log), "code in the log", r)


def test_out_of_window_code(e):
    e.enroll("alice")
    for off in (3, -3):
        r = e.login("alice", "code:%d" % off)
        check(r.code == PAM_AUTH_ERR, "code %+d steps away accepted" % off, r)
    check(field(e.show("alice"), "failures") == 2, "failures not counted", e.show("alice"))


def test_non_numeric_input(e):
    e.enroll("alice")
    for text in ("abcdef", "12a456", "", " 123456"):
        r = e.login("alice", "lit:" + text)
        check(r.code == PAM_AUTH_ERR, "input %r accepted" % text, r)
        e.tool("lock", e.state_dir, "alice", -1)


def test_overlong_input(e):
    e.enroll("alice")
    r = e.login("alice", "long")
    check(r.code == PAM_AUTH_ERR, "over-long input accepted", r)
    r = e.login("alice", "lit:" + e.code() + "0")
    check(r.code == PAM_AUTH_ERR, "code with a digit too many accepted", r)


def test_lockout_and_expiry(e):
    e.enroll("alice")
    for i in range(3):
        r = e.login("alice", "code:5")
        check(r.code == PAM_AUTH_ERR, "wrong code %d accepted" % i, r)
    check(any("locked until" in m for m in r.errors), "no lockout message", r)
    check(r.logged("event=lockout", "user='alice'", "until="), "lockout not logged", r)
    check(field(e.show("alice"), "locked_until") > time.time(), "not locked", e.show("alice"))
    r = e.login("alice", "code:0")
    check(r.code == PAM_AUTH_ERR, "locked user let in", r)
    check(r.prompts == [], "locked user was prompted", r)
    check(any("locked until" in m for m in r.errors), "no 'locked until' message", r)
    e.tool("lock", e.state_dir, "alice", -1)   # the lock ran out a second ago
    r = e.login("alice", "code:0")
    check(r.code == PAM_SUCCESS, "good code refused after the lock expired", r)
    check(field(e.show("alice"), "failures") == 0, "failures not reset", e.show("alice"))


def test_recovery_code_once(e):
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_SUCCESS, "enrollment failed", r)
    codes = r.recovery_codes()
    check(len(codes) == 3, "expected 3 recovery codes", r)
    r = e.login("alice", "lit:" + codes[1].lower())
    check(r.code == PAM_SUCCESS, "recovery code refused", r)
    check(any("2 left" in m for m in r.info), "remaining count not shown", r)
    check(r.logged("event=verify", "result=ok", "reason=recovery-code", "count=2"),
          "recovery code use not logged", r)
    check(not any(codes[1] in l or codes[1].lower() in l for l in r.log), "code in the log", r)
    r = e.login("alice", "lit:" + codes[1])
    check(r.code == PAM_AUTH_ERR, "recovery code accepted twice", r)
    check(field(e.show("alice"), "n_recovery") == 2, "not consumed", e.show("alice"))


# --- enrollment -----------------------------------------------------------------------

def test_enrollment_success(e):
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_SUCCESS, "enrollment failed", r)
    key = r.key()
    check(key is not None and len(key) == 32, "no key shown", r)
    check(any(m.startswith("URI: otpauth://totp/Test%20Corp:alice?secret=" + key)
              for m in r.info), "no URI", r)
    if os.environ.get("HAVE_QRENCODE") == "1":
        check(any("\u2588" in m or "\u2580" in m for m in r.info), "no QR code", r)
    # sshd keyboard-interactive: the key must arrive in the same call as the prompt
    first = r.out.split("PROMPT")[0]
    check("Key: " in first and first.count("CALL") == 1, "key not sent with the prompt", r)
    check(len(r.recovery_codes()) == 3, "recovery codes not shown", r)
    check(not any(key in line for line in r.log), "secret in the log", r)
    check(r.logged("event=enroll", "user='alice'", "result=ok", "count=3"), "not logged", r)
    check(e.show("alice").startswith("status=enrolled"), "not saved", e.show("alice"))
    st = os.stat(e.state_file("alice"))
    check(st.st_mode & 0o077 == 0, "state file mode %o" % st.st_mode)
    # the confirming step is used: the next login needs a newer code
    check(e.login("alice", "code:1", key=key).code == PAM_SUCCESS, "new key refused")


def test_enrollment_wrong_code_saves_nothing(e):
    r = e.login("alice", "enroll:5", "enroll:-5", "lit:abc")
    check(r.code == PAM_AUTH_ERR, "wrong confirmation accepted", r)
    check(len(r.prompts) == 3, "expected 3 tries", r)
    check(e.show("alice") == "absent", "state saved", e.show("alice"))
    check(r.recovery_codes() == [], "recovery codes shown", r)
    check(r.logged("event=enroll", "result=fail", "reason=wrong-code"), "not logged", r)


def test_reset_forces_enrollment(e):
    e.enroll("alice")
    check(e.login("alice", "code:0").code == PAM_SUCCESS, "old key refused before reset")
    e.tool("reset", e.state_dir, "alice", "root", 0)
    r = e.login("alice", "code:1", "code:1", "code:1")
    check(r.code == PAM_AUTH_ERR, "old key accepted after reset", r)
    check(any("root asked for a new authenticator token on " in m for m in r.info),
          "reset reason not shown", r)
    check(e.show("alice").startswith("status=reset"), "reset lost", e.show("alice"))
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_SUCCESS, "re-enrollment failed", r)
    check(r.key() != KEY, "same key")
    r = e.login("alice", "code:1")
    check(r.code == PAM_AUTH_ERR, "old key accepted after re-enrollment", r)


def test_reset_expired(e):
    e.close()
    e.__init__(expires=600)
    e.tool("reset", e.state_dir, "alice", "root", 3600)
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_AUTH_ERR, "expired reset claimed", r)
    check(any("administrator" in m for m in r.errors), "no message", r)
    check(e.show("alice").startswith("status=reset"), "state changed", e.show("alice"))


def test_enrollment_refused_without_conversation(e):
    r = e.login("alice", flags=["-n"])
    check(r.code in FAIL_CLOSED, "no conversation not refused", r)
    r = e.login("alice", "enroll:0", flags=["-s"])
    check(r.code == PAM_AUTH_ERR and r.prompts == [], "PAM_SILENT not refused", r)
    check(e.show("alice") == "absent", "state saved", e.show("alice"))


def test_enrollment_refused_with_no_enroll(e):
    e.close()
    e.__init__(args="no_enroll")
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_AUTH_ERR and r.prompts == [], "no_enroll not refused", r)
    check(any("administrator" in m for m in r.errors), "no message", r)
    e.close()
    e.__init__(allow="false")
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_AUTH_ERR and r.prompts == [], "allow=false not refused", r)


def hold_enrollment(e, user):
    """Starts an enrollment and holds it at its prompt; returns (process, key shown)."""
    p = e.start(user, "stdin")
    out = []
    line = p.stdout.readline()
    while line and not line.startswith("WAITING"):
        out.append(line)
        line = p.stdout.readline()
    r = Result("".join(out), "")
    check(line.startswith("WAITING") and r.key(), "enrollment did not reach the prompt", r)
    return p, r.key()


def finish(p, answer):
    out, err = p.communicate(answer + "\n", timeout=120)
    r = Result(out, err)
    check(p.returncode == 0, "driver exited %d" % p.returncode, r)  # valgrind: 42
    check(not r.leaked(), "a secret in the log: %s" % r.leaked(), r)
    return r


def test_enrollment_race_with_other_enrollment(e):
    """A token saved while this enrollment waited for its code is never overwritten."""
    p, key = hold_enrollment(e, "alice")
    e.enroll("alice", OTHER_KEY)
    r = finish(p, e.code(key))
    check(r.code == PAM_PERM_DENIED and r.ops[-1] == ("acct", PAM_PERM_DENIED),
          "racing enrollment overwrote a token", r)
    check(r.logged("event=enroll", "reason=state-changed"), "not logged", r)
    check(e.login("alice", "code:0", key=OTHER_KEY).code == PAM_SUCCESS, "other token lost")


def test_enrollment_race_with_new_reset(e):
    """A reset issued while a pending reset is being claimed wins: nothing is saved."""
    e.tool("reset", e.state_dir, "alice", "root", 0)
    p, key = hold_enrollment(e, "alice")
    e.tool("reset", e.state_dir, "alice", "root", 0)
    r = finish(p, e.code(key))
    check(r.code == PAM_PERM_DENIED, "enrollment claimed a newer reset", r)
    check(e.show("alice").startswith("status=reset"), "reset lost", e.show("alice"))


# --- a token is saved only when the whole authentication succeeded --------------------

DENY_FIRST = ("auth required pam_deny.so\n"
              "auth required {module} {args}\n"
              "account required pam_permit.so\n"
              "account required {module} {args}\n")
AUTH_ONLY = ("auth required {module} {args}\n"
             "account required pam_permit.so\n")


def pause_after(e, user, ops, *answers):
    """Runs ops up to "pause" with the answers; returns (process, output so far)."""
    p = e.start(user, *answers, ops=ops)
    out = []
    line = p.stdout.readline()
    while line and not line.startswith("PAUSED"):
        out.append(line)
        line = p.stdout.readline()
    check(line.startswith("PAUSED"), "did not reach the pause", "".join(out))
    return p, Result("".join(out), "")


def test_failed_password_saves_no_enrollment(e):
    """auth required pam_deny.so (a wrong password that does not stop the stack) before
    pam_totp: a stranger completes the enrollment screen, but nothing is saved."""
    e.close()
    e.__init__(stack=DENY_FIRST)
    r = e.login("alice", "enroll:0")
    check(r.key() and r.prompts == ["Verification code: "], "enrollment not reached", r)
    check(r.code == PAM_AUTH_ERR and r.ops == [("auth", PAM_AUTH_ERR)], "stack result", r)
    check(e.show("alice") == "absent", "a stranger's token was saved", e.show("alice"))
    check(r.recovery_codes() == [], "recovery codes shown", r)
    # the same for a pending reset: the owner's reset is not claimed by the stranger
    e.tool("reset", e.state_dir, "alice", "root", 0)
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_AUTH_ERR and r.key(), "stack result after reset", r)
    check(e.show("alice").startswith("status=reset"), "reset claimed", e.show("alice"))


def test_enrollment_saved_by_acct_mgmt(e):
    p, r = pause_after(e, "alice", "auth,pause,acct", "enroll:0")
    check(("auth", PAM_SUCCESS) in r.ops and r.key(), "enrollment not confirmed", r)
    check(e.show("alice") == "absent", "saved by pam_authenticate", e.show("alice"))
    r = finish(p, "")
    check(r.code == PAM_SUCCESS and r.ops == [("acct", PAM_SUCCESS)], "acct_mgmt failed", r)
    check(e.show("alice").startswith("status=enrolled"), "not saved by acct", e.show("alice"))
    check(len(r.recovery_codes()) == 3, "recovery codes not shown by acct", r)
    check(r.logged("event=enroll", "user='alice'", "result=ok", "count=3"), "not logged", r)


def test_enrollment_saved_by_setcred(e):
    e.close()
    e.__init__(stack=AUTH_ONLY)
    p, r = pause_after(e, "alice", "auth,acct,pause,cred", "enroll:0")
    check(("auth", PAM_SUCCESS) in r.ops, "enrollment not confirmed", r)
    key = r.key()
    check(e.show("alice") == "absent", "saved before pam_setcred", e.show("alice"))
    r = finish(p, "")
    check(r.code == PAM_SUCCESS and r.ops == [("cred", PAM_SUCCESS)], "setcred failed", r)
    check(e.show("alice").startswith("status=enrolled"), "not saved", e.show("alice"))
    check(len(r.recovery_codes()) == 3, "recovery codes not shown by setcred", r)
    check(e.login("alice", "code:1", key=key).code == PAM_SUCCESS, "the shown key not saved")


def test_enrollment_saved_once(e):
    r = e.login("alice", "enroll:0", ops="auth,acct,cred,cred,acct")
    check(r.code == PAM_SUCCESS, "login failed", r)
    oks = [l for l in r.log if "event=enroll" in l and "result=ok" in l]
    check(len(oks) == 1, "saved %d times" % len(oks), r)
    codes = r.recovery_codes()
    check(len(codes) == 3, "recovery codes shown %d times" % (len(codes) / 3.0), r)
    # the codes shown are the codes saved
    check(e.login("alice", "lit:" + codes[0]).code == PAM_SUCCESS, "shown code not saved")


def test_second_authenticate_drops_pending(e):
    """A careless application: the first pam_authenticate confirmed an enrollment, a second
    one on the same handle failed; what the first confirmed must not be written."""
    r = e.login("alice", "enroll:0", "enroll:5", "enroll:5", "enroll:5", flags=["-c"],
                ops="auth,auth,acct,cred")
    check([op for op, _ in r.ops] == ["auth", "auth", "acct", "cred"], "ops", r)
    check(r.ops[0][1] == PAM_SUCCESS and r.ops[1][1] == PAM_AUTH_ERR, "auth results", r)
    check(e.show("alice") == "absent", "the first call's token saved", e.show("alice"))
    check(r.ops[3][1] == PAM_CRED_ERR, "setcred let an unsaved enrollment in", r)


def test_user_switched_after_authenticate_saves_nothing(e):
    """The application changes PAM_USER between pam_authenticate and pam_acct_mgmt: alice's
    confirmed token is written neither for bob nor for alice; switched back, it is alice's."""
    r = e.login("alice", "enroll:0", flags=["-c"], ops="auth,user=bob,acct,cred")
    check(r.ops == [("auth", PAM_SUCCESS), ("acct", PAM_PERM_DENIED), ("cred", PAM_SUCCESS)],
          "ops", r)
    check(e.show("alice") == "absent" and e.show("bob") == "absent", "written", e.show("bob"))
    check(r.logged("event=enroll", "user='alice'", "result=error", "reason=user-changed"),
          "not logged", r)
    check(r.recovery_codes() == [], "recovery codes shown", r)
    # bob (not enforced) was checked by pam_authenticate; the check is not alice's
    r = e.login("bob", flags=["-c"], ops="auth,user=alice,cred")
    check(r.ops[-1][1] != PAM_SUCCESS, "alice got credentials on bob's check", r)
    r = e.login("alice", "enroll:0", ops="auth,user=bob,user=alice,acct,cred")
    check(r.code == PAM_SUCCESS and e.show("alice").startswith("status=enrolled"), "alice", r)


def test_second_module_line_cannot_drop_an_enrollment_into_a_login(e):
    """Two pam_totp auth lines with different config= (the second enforcing nobody): the
    second drops what the first confirmed. The login must then not pass as if alice needed
    nothing: pam_setcred refuses her, since no token was saved."""
    module = os.environ["PAM_TOTP_MODULE"]
    other = os.path.join(e.dir, "other.conf")
    os.mkdir(os.path.join(e.dir, "state2"), 0o700)
    with open(other, "w") as f:
        f.write(CONFIG.format(state_dir=os.path.join(e.dir, "state2"), allow="true",
                              expires=0).replace('"mfa-users"', '"nosuchgroup"'))
    with open(os.path.join(e.dir, "pam.d", SERVICE), "w") as f:
        f.write("auth required {m} config={a}\nauth optional {m} config={b}\n"
                "account required pam_permit.so\naccount required {m} config={a}\n"
                .format(m=module, a=e.config, b=other))
    r = e.login("alice", "enroll:0")
    check(r.key(), "enrollment not reached", r)
    if e.show("alice") == "absent":
        check(r.code != PAM_SUCCESS, "logged in without a saved token", r)
        check(r.logged("event=setcred", "user='alice'", "result=refused"), "not logged", r)


def test_stale_pending_not_written(e):
    # enrolled meanwhile (another login of the same user, or an administrator's tool)
    p, r = pause_after(e, "alice", "auth,pause,acct,cred", "enroll:0")
    check(e.show("alice") == "absent", "saved by pam_authenticate", e.show("alice"))
    e.enroll("alice", OTHER_KEY)
    r = finish(p, "")
    check(r.code == PAM_PERM_DENIED and r.ops == [("acct", PAM_PERM_DENIED)], "acct", r)
    check(r.logged("event=enroll", "result=refused", "reason=state-changed"), "not logged", r)
    check(e.login("alice", "code:0", key=OTHER_KEY).code == PAM_SUCCESS, "other token lost")
    # a newer reset issued meanwhile
    e.tool("reset", e.state_dir, "alice", "root", 0)
    p, r = pause_after(e, "alice", "auth,pause,acct,cred", "enroll:0")
    check(e.show("alice").startswith("status=reset"), "saved by authenticate", e.show("alice"))
    e.tool("reset", e.state_dir, "alice", "root", 0)
    r = finish(p, "")
    check(r.code == PAM_PERM_DENIED, "a newer reset was claimed", r)
    check(e.show("alice").startswith("status=reset"), "reset lost", e.show("alice"))


def test_setcred_without_pending_refuses_unenrolled(e):
    """As under sshd without the account line: pam_setcred in a process that never saw the
    enrollment. An enforced user without a token, or with a pending reset, is refused."""
    r = e.login("alice", ops="cred")
    check(r.code == PAM_CRED_ERR, "unenrolled enforced user got credentials", r)
    check(r.logged("event=setcred", "user='alice'", "result=refused",
                   "reason=enrollment-not-saved", "account required pam_totp.so"),
          "not logged with the hint", r)
    check(any("administrator" in m for m in r.errors), "no message", r)
    e.tool("reset", e.state_dir, "alice", "root", 0)
    check(e.login("alice", ops="cred").code == PAM_CRED_ERR, "pending reset got credentials")
    e.enroll("alice")
    check(e.login("alice", ops="cred").code == PAM_SUCCESS, "enrolled user refused")
    check(e.login("bob", ops="cred").code == PAM_SUCCESS, "user not enforced refused")
    check(e.login("carol", ops="cred").code == PAM_SUCCESS, "exempt user refused")
    check(e.login("alice", ops="delcred").code == PAM_SUCCESS, "PAM_DELETE_CRED refused")


# Debian 12's /etc/pam.d/cron and /etc/pam.d/atd include common-auth: cron and atd call
# pam_acct_mgmt, then pam_setcred(PAM_ESTABLISH_CRED | PAM_SILENT) and give up the job when it
# fails, with no conversation function (pam_start's conv is {NULL}; cron 3.0pl1-162, at 3.2.5)
# and no pam_authenticate. common-auth as pam-auth-update writes it, pam_unix's place taken by
# pam_permit.
CRON_STACK = ("auth [success=1 default=ignore] pam_permit.so\n"
              "auth requisite pam_deny.so\n"
              "auth required pam_permit.so\n"
              "auth required {module} {args}\n"
              "account required pam_permit.so\n"
              "account required {module} {args}\n")


def test_cron_and_at_jobs_run_for_users_without_a_token(e):
    """A job is not a login: nobody was asked for a code, so nothing can have been enrolled
    and lost. An enforced user who has not enrolled yet, or whose token an administrator has
    just reset, keeps their cron and at jobs."""
    e.close()
    e.__init__(stack=CRON_STACK)
    for user in ("alice", "bob"):
        r = e.login(user, flags=["-n", "-s"], ops="acct,cred")
        check(r.code == PAM_SUCCESS, "job of %s refused" % user, r)
    e.tool("reset", e.state_dir, "alice", "root", 0)
    r = e.login("alice", flags=["-n", "-s"], ops="acct,cred")
    check(r.code == PAM_SUCCESS, "job refused after a reset", r)
    check(not r.logged("result=refused"), "refusal logged", r)
    # what is still refused: a login (with a conversation) that never saved the token
    r = e.login("alice", ops="cred")
    check(r.code == PAM_CRED_ERR, "a login with an unsaved enrollment got credentials", r)


def test_sudo_to_a_user_without_a_token_is_not_told_of_a_lost_enrollment(e):
    """sudo -u alice (sudo 1.9 of Debian 12): pam_acct_mgmt for the caller, then PAM_USER set
    to the target and pam_setcred(PAM_REINITIALIZE_CRED), whose failure sudo ignores. That is
    no login of alice: the caller is not told that alice's token was not saved, nothing is
    logged as refused. A pending enrollment is still written by REINITIALIZE."""
    for target in ("alice", "root"):
        r = e.login("bob", ops="acct,user=%s,recred" % target)
        check(r.code == PAM_SUCCESS and r.errors == [], "sudo -u %s" % target, r)
        check(not r.logged("result=refused"), "refusal logged", r)
    r = e.login("alice", "enroll:0", ops="auth,recred")
    check(r.code == PAM_SUCCESS and e.show("alice").startswith("status=enrolled"),
          "REINITIALIZE did not write the pending token", r)


def test_account_without_pending_is_ignored(e):
    """pam_acct_mgmt with nothing pending says nothing (PAM_IGNORE): the other account
    modules decide, so `account required pam_unix.so` + pam_totp works for everybody."""
    e.close()
    e.__init__(stack="account required pam_permit.so\naccount required {module} {args}\n")
    for user in ("alice", "bob"):
        check(e.login(user, ops="acct").code == PAM_SUCCESS, "account of %s refused" % user)
    e.close()
    e.__init__(stack="account required {module} {args}\n")
    r = e.login("alice", ops="acct")
    check(r.code != PAM_SUCCESS, "pam_totp alone decided an account", r)


# --- what a person reads, what the log says --------------------------------------------

def test_failure_messages_in_words(e):
    e.enroll("alice")
    r = e.login("alice", "code:5")
    check(r.code == PAM_AUTH_ERR and r.errors == ["Wrong code."], "wrong code", r)
    code = e.code()
    check(e.login("alice", "lit:" + code).code == PAM_SUCCESS, "good code refused")
    r = e.login("alice", "lit:" + code)
    check(r.code == PAM_AUTH_ERR and len(r.errors) == 1 and
          r.errors[0].startswith("That code was already used; wait for the next one"),
          "replay", r)
    r = e.login("alice", "lit:12ab56")
    check(r.code == PAM_AUTH_ERR and
          r.errors == ["That is not a code: type the 6 digits the app shows."], "malformed", r)
    # nothing is said to whom MFA does not concern or who does not exist
    for user in ("bob", "nosuchuser"):
        r = e.login(user, "code:0")
        said = [m for m in r.info + r.errors if m != "auth=maxtries"]  # pam_debug's line
        check(said == [] and r.prompts == [], "%s was told" % user, r)


def test_login_right_after_enrolling_says_wait(e):
    """The code that confirmed the enrollment, typed again at once (the app still shows
    it): the person is told to wait for the next code, not just refused."""
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_SUCCESS, "enrollment failed", r)
    key = r.key()
    r = e.login("alice", "code:0", key=key)
    check(r.code == PAM_AUTH_ERR, "enrollment code accepted twice", r)
    check(any(re.match(r"That code was already used; wait for the next one( \(about \d+ "
                       r"seconds\))?\.$", m) for m in r.errors), "not told to wait", r)
    check(e.login("alice", "code:1", key=key).code == PAM_SUCCESS, "next code refused")


def test_clock_drift_logged(e):
    e.enroll("alice")
    r = e.login("alice", "code:1")
    check(r.code == PAM_SUCCESS and r.logged("event=verify", "result=ok", "drift=+1"),
          "drift of an accepted code not logged", r)
    r = e.login("alice", "code:-4")
    check(r.code == PAM_AUTH_ERR, "code 4 steps old accepted", r)
    check(r.logged("event=verify", "result=fail", "reason=wrong-code", "drift=-4"),
          "drift of a refused code not logged", r)
    r = e.login("alice", "code:-30")
    check(r.logged("reason=wrong-code") and not r.logged("drift="), "far code logged as drift",
          r)
    r = e.login("alice", "code:0", key=OTHER_KEY)
    check(r.code == PAM_AUTH_ERR, "other key accepted", r)


def test_never_enrolled_is_not_told_of_a_reset(e):
    """An administrator may reset a user who never had a token: that user must not read that
    their token was reset."""
    e.tool("reset", e.state_dir, "alice", "bob", 0)
    r = e.login("alice", "enroll:0")
    check(r.code == PAM_SUCCESS, "enrollment failed", r)
    check(not any("was reset" in m for m in r.info), "told of a reset", r)
    check(any(m.startswith("bob asked for a new authenticator token on ") for m in r.info),
          "who asked not shown", r)


def test_login_events_carry_rhost_and_tty(e):
    e.enroll("alice")
    r = e.login("alice", "code:0", flags=["-r", "203.0.113.9", "-t", "/dev/pts/3"])
    check(r.logged("event=verify", "user='alice'", "result=ok", "rhost='203.0.113.9'",
                   "tty='/dev/pts/3'"), "no rhost/tty", r)
    r = e.login("nosuchuser", flags=["-r", "evil'host\n x=1\u00e9", "-t", "ssh"])
    check(r.logged("reason=unknown-user", "rhost='evil\\'host\\x0a\\x20x=1\\xc3\\xa9'",
                   "tty='ssh'"), "rhost not escaped", r)
    r = e.login("alice", "enroll:0", flags=["-r", "198.51.100.7"])
    check(r.logged("event=verify", "result=fail", "rhost='198.51.100.7'"), "failure", r)


def test_every_log_line_escapes_the_user_name(e):
    """A name NSS knows may hold a quote or a backslash: every line the module writes (here
    the setcred refusal and the unreadable state) escapes it like the others, so that no
    field can be forged (a fail2ban pattern rhost='...' must find the real host), and carries
    rhost and tty."""
    user = "o'x\\rhost='192.0.2.66'"
    passwd = os.path.join(e.dir, "passwd")
    shutil.copy(os.path.join(os.environ["PAM_TEST_DIR"], "passwd"), passwd)
    with open(passwd, "a") as f:
        f.write("%s:x:1010:1010::/home/x:/bin/sh\n" % user)
    e.env["NSS_WRAPPER_PASSWD"] = passwd
    with open(e.config) as f:
        cfg = f.read()
    with open(e.config, "w") as f:
        f.write(cfg.replace("users = []", 'users = [ "%s" ]' % user.replace("\\", "\\\\")))
    quoted = "user='o\\'x\\\\rhost=\\'192.0.2.66\\''"
    where = ("rhost='203.0.113.5'", "tty='/dev/pts/7'")
    r = e.login(user, ops="cred", flags=["-r", "203.0.113.5", "-t", "/dev/pts/7"])
    check(r.code == PAM_CRED_ERR, "setcred", r)
    check(r.logged("event=setcred", quoted, "reason=enrollment-not-saved", *where),
          "setcred line not escaped", r)
    e.tool("reset", e.state_dir, user, "root", 0)  # then find its file (names are encoded)
    files = [n for n in os.listdir(e.state_dir) if not n.startswith(".")]
    check(len(files) == 1, "state files", files)
    with open(os.path.join(e.state_dir, files[0]), "w") as f:
        f.write("garbage\n")
    r = e.login(user, "code:0", flags=["-r", "203.0.113.5", "-t", "/dev/pts/7"])
    check(r.code in FAIL_CLOSED, "corrupt state", r)
    check(r.logged("event=auth", quoted, "result=error", "reason=state", *where),
          "state line not escaped", r)
    check(not any("user='o'x" in l for l in r.log), "raw name logged", r)


def test_lockout_logs_the_real_count(e):
    e.enroll("alice")
    for i in range(1, 4):
        r = e.login("alice", "code:7")
        check(r.logged("event=verify", "result=fail", "failures=%d" % i),
              "failure %d not logged with its count" % i, r)
    check(r.logged("event=lockout", "user='alice'", "until="), "no lockout", r)


def test_text_after_the_last_code_prompt_is_acknowledged(e):
    """Recovery codes and "Recovery code accepted" come with a press-Enter prompt in the same
    conversation call: sshd shows text after the last prompt twice."""
    r = e.login("alice", "enroll:0")
    calls = r.out.split("CALL ")
    saved = [c for c in calls if "Token saved." in c]
    check(len(saved) == 1 and "PROMPT Press Enter to continue: " in saved[0], "codes", r)
    codes = r.recovery_codes()
    r = e.login("alice", "lit:" + codes[0])
    check(r.code == PAM_SUCCESS, "recovery code refused", r)
    accepted = [c for c in r.out.split("CALL ") if "Recovery code accepted" in c]
    check(len(accepted) == 1 and "PROMPT Press Enter to continue: " in accepted[0],
          "recovery code acceptance", r)


def test_tty_enrollment_screen_fits_80x24(e):
    """pamtester (Linux-PAM's misc_conv, as login(1)) on an 80x24 pseudo-terminal: the key,
    the URI and the prompt are in the last 24 rows, so they never scroll away, and the QR
    code fits one screen."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    if not shutil.which("pamtester"):
        print("SKIP: needs pamtester")
        sys.exit(77)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("pamtester", ["pamtester", SERVICE, "alice", "authenticate"], e.env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    out, deadline = b"", time.time() + 60
    try:
        while not out.rstrip(b" ").endswith(b"Verification code:") and time.time() < deadline:
            if select.select([fd], [], [], 1)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace").replace("\r", "")
    rows = []
    for line in text.split("\n"):
        while len(line) > 80:
            rows.append(line[:80])
            line = line[80:]
        rows.append(line)
    screen = rows[-24:]
    check(screen[-1].startswith("Verification code:"), "prompt not last", text)
    key_rows = [r for r in screen if r.startswith("Key: ")]
    check(len(key_rows) == 1, "key not on the last screen", "\n".join(screen))
    uri = next((i for i, r in enumerate(rows) if r.startswith("URI: otpauth://")), None)
    check(uri is not None and uri >= len(rows) - 24, "URI not on the last screen",
          "\n".join(screen))
    qr = [r for r in rows if "\u2588" in r or "\u2580" in r or "\u2584" in r]
    if os.environ.get("HAVE_QRENCODE") == "1":
        check(0 < len(qr) <= 24 and all(len(r) <= 80 for r in qr), "QR code %d rows" % len(qr),
              text)
        # the standard quiet zone of four modules, drawn (two text rows, four columns), so
        # that on a light terminal the inverted code still has its margin
        full = "\u2588"
        check(qr[0].strip(" ") == qr[1].strip(" ") == full * len(qr[0].strip(" ")) and
              all(r.strip(" ").startswith(full * 4) and r.strip(" ").endswith(full * 4)
                  for r in qr), "no four-module quiet zone", "\n".join(qr))


def test_enrollment_screen_with_the_longest_names(e):
    """The longest issuer (64 bytes, each percent-encoded) and account (128 bytes): the QR
    code is drawn within 80 columns or left out, and what follows it (key, URI, what to do,
    prompt) still fits 24 rows of 80 columns, so the key never scrolls away."""
    user = ("x" * 127) + "y"
    passwd = os.path.join(e.dir, "passwd")
    shutil.copy(os.path.join(os.environ["PAM_TEST_DIR"], "passwd"), passwd)
    with open(passwd, "a") as f:
        f.write("%s:x:1010:1010::/home/x:/bin/sh\n" % user)
    e.env["NSS_WRAPPER_PASSWD"] = passwd
    with open(e.config) as f:
        cfg = f.read()
    for issuer in ("\u00e9" * 32, "Q" * 20):
        with open(e.config, "w") as f:
            f.write(cfg.replace('"Test Corp"', '"%s"' % issuer)
                    .replace("users = []", 'users = [ "%s" ]' % user))
        if os.path.exists(e.state_file(user)):
            os.unlink(e.state_file(user))
        r = e.login(user, "enroll:0")
        check(r.code == PAM_SUCCESS and r.key(), "enrollment with long names", r)
        lines = r.out.split("\n")
        blocks = [l for l in lines if re.search("[\u2580\u2584\u2588]", l)]
        check(all(len(l.replace("INFO ", "", 1)) <= 80 for l in blocks), "QR wider than 80",
              "\n".join(blocks))
        first = next(i for i, l in enumerate(lines) if l.startswith("INFO Key: "))
        prompt = next(i for i, l in enumerate(lines) if l.startswith("PROMPT Verification"))
        tail = [l.split(" ", 1)[1] for l in lines[first:prompt + 1]
                if l.startswith(("INFO ", "PROMPT "))]
        rows = sum(max(1, -(-len(t) // 80)) for t in tail)
        check(rows <= 24, "key to prompt takes %d rows" % rows, "\n".join(tail))
        uri = next(t for t in tail if t.startswith("URI: otpauth://"))
        check("secret=" + r.key() in uri and user in uri, "URI incomplete", uri)


# --- policy ---------------------------------------------------------------------------

def test_group_enforced_vs_non_member(e):
    r = e.login("bob")
    check(r.code == IGNORED and r.prompts == [], "non-member not ignored", r)
    r = e.login("alice", "enroll:5", "enroll:5", "enroll:5")
    check(r.code == PAM_AUTH_ERR and r.key(), "member without token not enrolled", r)
    e.enroll("bob")
    r = e.login("bob", "code:0")
    check(r.code == PAM_SUCCESS and r.prompts, "non-member with a token not verified", r)


def test_exempt_group(e):
    r = e.login("carol")
    check(r.code == IGNORED and r.prompts == [], "exempt member not ignored", r)
    check(not r.logged("reason=not-enforced"), "debug line without debug", r)


def test_debug_option_logs_decision(e):
    e.close()
    e.__init__(args="debug bogus_option")
    r = e.login("carol")
    check(r.code == IGNORED, "exempt member not ignored", r)
    check(r.logged("user='carol'", "result=ignore", "reason=not-enforced"), "no debug line", r)
    check(r.logged("unknown option 'bogus_option', ignoring"), "unknown option not logged", r)
    e.enroll("alice")
    r = e.login("alice", "code:0")
    check(r.code == PAM_SUCCESS and r.logged("reason=verify"), "no decision line", r)


def test_unknown_user(e):
    r = e.login("mallory-typed-password")
    check(r.code == PAM_USER_UNKNOWN, "unknown user", r)
    check(r.logged("reason=unknown-user"), "not logged", r)
    check(not any("mallory" in line for line in r.log), "unknown name logged", r)
    r = e.login("../etc")
    check(r.code == PAM_USER_UNKNOWN, "invalid name", r)


def test_long_non_ascii_names_log_in(e):
    """Names of 90 Cyrillic letters (180 bytes; 540 percent-encoded, past NAME_MAX) were refused
    with "File name too long" even when not enforced: the one not enforced is ignored, the
    enforced one enrolls (under a hashed file name) and logs in with the next code."""
    free, enforced = "\u0416" * 90, "\u042f" * 90
    r = e.login(free)
    check(r.code == IGNORED, "a long name that is not enforced was refused", r)
    r = e.login(enforced, "enroll:0")
    check(r.code == PAM_SUCCESS, "a long enforced name could not enroll", r)
    key = r.key()
    check(e.show(enforced).startswith("status=enrolled"), "enrollment of a long name not saved",
          e.show(enforced))
    r = e.login(enforced, "code:1", key=key)
    check(r.code == PAM_SUCCESS, "a long enrolled name could not log in", r)


def test_enrolled_user_needs_no_nss_lookup(e):
    # Only a name NSS knew can have a state file, and an enrolled user is asked for a code
    # whatever the policy, so a login of an enrolled user never waits for NSS: shown with a
    # state file for a name that nss_wrapper does not know.
    e.enroll("ghost")
    r = e.login("ghost", "code:0")
    check(r.code == PAM_SUCCESS, "enrolled user's code refused without NSS", r)
    check(r.logged("event=verify", "user='ghost'", "result=ok"), "no verify line", r)
    # Anything else (a pending reset: enrollment) still needs NSS to know the name.
    e.tool("reset", e.state_dir, "ghost", "root", 0)
    r = e.login("ghost", "enroll:0")
    check(r.code == PAM_USER_UNKNOWN, "unknown user enrolled after a reset", r)
    check(e.show("ghost").startswith("status=reset"), "reset state changed", e.show("ghost"))


def test_alias_spelling_reaches_the_canonical_token(e):
    # NSS answering for "ALICE" with alice's entry (a case-insensitive directory): whoever
    # knows alice's password must not enroll a token of their own by typing "ALICE".
    e.env["LD_PRELOAD"] = os.environ["NSS_ALIAS_LIB"] + " " + e.env["LD_PRELOAD"]
    e.enroll("alice")
    r = e.login("ALICE", "enroll:0", "enroll:0", "enroll:0")
    check(r.code == PAM_AUTH_ERR, "an alias enrolled a second token", r)
    check(not any(line.startswith("Key: ") for line in r.info), "enrollment shown", r)
    check(not os.path.exists(e.state_file("ALICE")), "state kept under the alias")
    r = e.login("ALICE", "code:1")
    check(r.code == PAM_SUCCESS, "alias refused alice's own code", r)
    check(r.logged("event=verify", "user='alice'", "result=ok"), "not logged as alice", r)
    # Enrollment through an alias is saved under NSS's name.
    e.tool("reset", e.state_dir, "alice", "root", 0)
    r = e.login("ALICE", "enroll:0")
    check(r.code == PAM_SUCCESS, "enrollment through the alias failed", r)
    check(e.show("alice").startswith("status=enrolled"), "not saved for alice", e.show("alice"))
    check(not os.path.exists(e.state_file("ALICE")), "state saved under the alias")


# --- bad state and config -------------------------------------------------------------

def test_corrupt_state(e):
    with open(e.state_file("alice"), "w") as f:
        f.write("version = 1;\nstatus = \"enrolled\";\nsecret = \n")
    os.chmod(e.state_file("alice"), 0o600)
    r = e.login("alice", "code:0")
    check(r.code in FAIL_CLOSED and r.prompts == [], "corrupt state not refused", r)


def test_empty_state(e):
    open(e.state_file("alice"), "w").close()
    os.chmod(e.state_file("alice"), 0o600)
    r = e.login("alice", "code:0")
    check(r.code in FAIL_CLOSED and r.prompts == [], "empty state not refused", r)


def test_symlinked_state(e):
    e.enroll("bob")
    os.symlink(e.state_file("bob"), e.state_file("alice"))
    r = e.login("alice", "code:0")
    check(r.code in FAIL_CLOSED and r.prompts == [], "symlinked state followed", r)
    check(r.logged("user='alice'", "result=error", "reason=state"), "not logged", r)


def test_world_readable_state(e):
    e.enroll("alice")
    os.chmod(e.state_file("alice"), 0o644)
    r = e.login("alice", "code:0")
    check(r.code in FAIL_CLOSED and r.prompts == [], "world-readable state used", r)


def test_unsafe_state_dir(e):
    e.enroll("alice")
    os.chmod(e.state_dir, 0o755)
    r = e.login("alice", "code:0")
    check(r.code in FAIL_CLOSED and r.prompts == [], "group/world state dir used", r)


def test_broken_config(e):
    for text in ("issuer = \"x\"\nstate_dir = ;\n", "no_such_key = 1;\n",
                 "totp = { digits = 12; };\n"):
        with open(e.config, "w") as f:
            f.write(text)
        for user in ("alice", "bob"):
            r = e.login(user, "code:0")
            check(r.code in FAIL_CLOSED and r.prompts == [], "broken config %r" % text, r)
            check(r.logged("event=config", "result=error"), "not logged", r)
    os.unlink(e.config)
    r = e.login("bob", "code:0")
    check(r.code in FAIL_CLOSED, "missing config", r)


def test_exports_only_pam_entry_points(e):
    p = subprocess.run(["nm", "-D", "--defined-only", os.environ["PAM_TOTP_MODULE"]],
                       capture_output=True, text=True, check=True)
    names = sorted(line.split()[-1] for line in p.stdout.splitlines() if line.strip())
    check(names == ["pam_sm_acct_mgmt", "pam_sm_authenticate", "pam_sm_setcred"], "exports: %s" % names)



def test_module_loads_only_what_a_login_needs(e):
    """PAM loads the module and its libraries at every pam_start(). libldap and what it pulls
    in (GnuTLS, SASL...) cost ~2.5 ms to load and initialise, more than a file-store login: the
    ldap store is a plugin loaded only for store = "ldap". With static_crypto (the default)
    libsodium and liboath are linked in, not loaded (bench/RESULTS.md)."""
    p = subprocess.run(["ldd", os.environ["PAM_TOTP_MODULE"]], capture_output=True, text=True,
                       check=True)
    libs = ["libldap", "liblber", "libgnutls", "libsasl2"]
    if os.environ.get("STATIC_CRYPTO") == "1":
        libs += ["libsodium", "liboath"]
    for lib in libs:
        check(lib not in p.stdout, "pam_totp.so loads %s for every login" % lib, p.stdout)


# --- concurrency ----------------------------------------------------------------------

def test_concurrent_logins_one_code(e):
    """20 logins hold at the prompt with the same valid code; released together, exactly one
    may pass (replay protection under the user's lock)."""
    e.enroll("alice")
    procs = []
    try:
        for _ in range(20):
            p = e.start("alice", "stdin")
            line = p.stdout.readline()
            while line and not line.startswith("WAITING"):
                line = p.stdout.readline()
            check(line.startswith("WAITING"), "login did not reach the prompt")
            procs.append(p)
        code = e.code()
        for p in procs:
            p.stdin.write(code + "\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = [Result("RESULT" + o.split("RESULT", 1)[-1] if "RESULT" in o else "", err)
               for o, err in outs]
    codes = [r.code for r in results]
    check(codes.count(PAM_SUCCESS) == 1, "successes: %s" % codes)
    check(all(c in (PAM_SUCCESS, PAM_AUTH_ERR) for c in codes), "results: %s" % codes)
    oks = [r for r in results if r.logged("event=verify", "result=ok")]
    replays = [r for r in results if r.logged("event=verify", "reason=replay")]
    check(len(oks) == 1, "ok lines: %d" % len(oks))
    check(len(replays) >= 2, "replays logged: %d" % len(replays))
    check(field(e.show("alice"), "last_step") >= 0, "step not stored", e.show("alice"))



def test_concurrent_wrong_codes_all_counted(e):
    """9 logins hold at the prompt with a wrong code (max_failures = 3); released together,
    each failure is counted (9) and the token is locked when they are done: a flood of
    guesses in parallel is neither undercounted nor unlocked."""
    e.enroll("alice")
    good = e.code()
    wrong = ("%06d" % ((int(good) + 1) % 1000000))
    procs = []
    try:
        for _ in range(9):
            p = e.start("alice", "stdin")
            line = p.stdout.readline()
            while line and not line.startswith("WAITING"):
                line = p.stdout.readline()
            check(line.startswith("WAITING"), "login did not reach the prompt")
            procs.append(p)
        for p in procs:
            p.stdin.write(wrong + "\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = [Result("RESULT" + o.split("RESULT", 1)[-1] if "RESULT" in o else "", err)
               for o, err in outs]
    codes = [r.code for r in results]
    check(codes == [PAM_AUTH_ERR] * 9, "results: %s" % codes)
    check(field(e.show("alice"), "failures") == 9, "failures not all counted", e.show("alice"))
    check(field(e.show("alice"), "locked_until") > time.time(), "not locked", e.show("alice"))
    r = e.login("alice", "code:0")
    check(r.code == PAM_AUTH_ERR and r.prompts == [], "good code let in while locked", r)

# --- sshd -----------------------------------------------------------------------------

SSHD_CONFIG = """Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/hostkey
PidFile {dir}/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
AuthenticationMethods keyboard-interactive
PermitRootLogin yes
"""

ASKPASS = """#!/bin/sh
# sshd puts the PAM info text in front of the prompt, and ssh hands it all to askpass: the
# enrollment key is read from it as a person reads it from the terminal.
printf '%s\\n---\\n' "$1" >> {dir}/prompts
case "$1" in *"Press Enter to continue: ") echo; exit 0;; esac
key=$(printf '%s\\n' "$1" | grep -a '^Key: ' | sed 's/^Key: //; s/ (.*//; s/ //g')
offset=0
if [ -z "$key" ]; then key=$(cat {dir}/key); offset=1; fi
exec {tool} code "$key" $offset
"""


from loopback import free_port  # noqa: E402


def ssh(e, port):
    env = dict(os.environ, SSH_ASKPASS=os.path.join(e.dir, "askpass"),
               SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o",
         "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=keyboard-interactive",
         "-o", "ConnectTimeout=20", "-p", str(port), "root@127.0.0.1", "echo", "LOGGED-IN"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        start_new_session=True)


class Sshd:
    """A real sshd on loopback whose PAM stack comes from e's pam.d (pam_wrapper); its log
    (pam_syslog lines included) goes to a file. Needs root and sshd (else: skipped)."""

    def __init__(self, e, account, methods="keyboard-interactive"):
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if os.geteuid() != 0 or not os.path.exists(sshd) or not shutil.which("ssh"):
            print("SKIP: needs root, sshd and ssh")
            sys.exit(77)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        with open(e.config) as f:
            text = f.read().replace('users = []', 'users = [ "root" ]')
        with open(e.config, "w") as f:
            f.write(text)
        with open(os.path.join(e.dir, "pam.d", "sshd"), "w") as f:
            f.write("auth required %s config=%s\n%s\nsession required pam_permit.so\n"
                    % (os.environ["PAM_TOTP_MODULE"], e.config, account))
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        os.path.join(e.dir, "hostkey")], check=True)
        self.port = free_port()
        with open(os.path.join(e.dir, "sshd_config"), "w") as f:
            text = SSHD_CONFIG.format(port=self.port, dir=e.dir).replace(
                "AuthenticationMethods keyboard-interactive",
                "AuthenticationMethods " + methods)
            if methods == "publickey":  # the first value of a keyword wins
                text = text.replace("PubkeyAuthentication no", "PubkeyAuthentication yes\n"
                                    "StrictModes no\nAuthorizedKeysFile %s/authorized_keys"
                                    % e.dir)
            f.write(text)
        with open(os.path.join(e.dir, "askpass"), "w") as f:
            f.write(ASKPASS.format(dir=e.dir, tool=os.environ["STATE_TOOL"]))
        os.chmod(os.path.join(e.dir, "askpass"), 0o700)
        env = dict(os.environ, LD_PRELOAD=os.environ["PAM_WRAPPER_LIB"], PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=os.path.join(e.dir, "pam.d"),
                   PAM_WRAPPER_DEBUGLEVEL="2")
        self.logfile = os.path.join(e.dir, "sshd.log")
        with open(self.logfile, "w") as log:
            self.proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", os.path.join(e.dir, "sshd_config")], env=env,
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 30
        while "Server listening" not in self.log() and time.time() < deadline:
            time.sleep(0.05)
        if "Server listening" not in self.log():
            self.close()
            raise Failure("sshd did not start: " + self.log())

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def test_sshd_keyboard_interactive(e):
    """A real sshd (loopback, pam_wrapper) and ssh: enrollment text reaches the user together
    with the prompt, the token is saved by the account line (sshd calls pam_acct_mgmt in the
    process that authenticated), then a code logs in and a wrong key does not."""
    d = Sshd(e, "account required pam_permit.so\naccount required %s config=%s"
             % (os.environ["PAM_TOTP_MODULE"], e.config))
    port = d.port
    try:
        p = ssh(e, port)
        with open(os.path.join(e.dir, "prompts")) as f:
            prompts = f.read()
        check(p.returncode == 0 and "LOGGED-IN" in p.stdout,
              "enrollment over ssh failed", p.stdout, p.stderr, prompts)
        first = prompts.split("---")[0]
        check("Key: " in first and "URI: otpauth://" in first and
              first.rstrip().endswith("Verification code:"), "key not shown with the prompt", first)
        # shown once: at the prompt that acknowledges them, not again as a banner
        shown = re.findall(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){3}", p.stderr + prompts + p.stdout)
        check(len(shown) == 3 and len(set(shown)) == 3, "recovery codes shown %s" % shown,
              p.stderr, prompts)
        key = re.search(r"^Key: (.*?) \(", first, re.M).group(1).replace(" ", "")
        check(e.show("root").startswith("status=enrolled"), "not saved", e.show("root"))
        with open(os.path.join(e.dir, "key"), "w") as f:
            f.write(key)
        p = ssh(e, port)
        check(p.returncode == 0 and "LOGGED-IN" in p.stdout, "code refused over ssh", p.stderr)
        with open(os.path.join(e.dir, "key"), "w") as f:
            f.write(OTHER_KEY)
        p = ssh(e, port)
        check(p.returncode != 0 and "LOGGED-IN" not in p.stdout, "wrong key let in", p.stdout)
    finally:
        d.close()


def test_sshd_without_account_line_fails_closed(e):
    """sshd without `account required pam_totp.so`: the enrollment confirmed in sshd's PAM
    child is never written, and pam_setcred in the session process refuses the login instead
    of letting it in on a token that was not saved."""
    d = Sshd(e, "account required pam_permit.so")
    try:
        p = ssh(e, d.port)
        with open(os.path.join(e.dir, "prompts")) as f:
            prompts = f.read()
        check("Key: " in prompts, "enrollment not reached", prompts, p.stderr)
        check(p.returncode != 0 and "LOGGED-IN" not in p.stdout, "logged in on an unsaved token",
              p.stdout, p.stderr)
        check(e.show("root") == "absent", "saved", e.show("root"))
    finally:
        d.close()
    check("reason=enrollment-not-saved" in d.log(), "not logged", d.log()[-3000:])


def test_sshd_public_key_only_login_of_a_user_without_a_token(e):
    """A public-key-only login (no keyboard-interactive) of an enforced user who has no token
    yet never reached pam_totp's authentication: sshd calls pam_setcred, and acts on its
    failure only when PAM authenticated the user, so the login goes on (pam_totp logs it)."""
    d = Sshd(e, "account required pam_permit.so\naccount required %s config=%s"
             % (os.environ["PAM_TOTP_MODULE"], e.config), methods="publickey")
    try:
        key = os.path.join(e.dir, "id")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        shutil.copy(key + ".pub", os.path.join(e.dir, "authorized_keys"))
        p = subprocess.run(
            ["ssh", "-F", "/dev/null", "-i", key, "-o", "StrictHostKeyChecking=no", "-o",
             "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
             "-p", str(d.port), "root@127.0.0.1", "echo", "LOGGED-IN"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        check(p.returncode == 0 and "LOGGED-IN" in p.stdout, "public key login refused",
              p.stderr)
        check(e.show("root") == "absent", "a token appeared", e.show("root"))
    finally:
        d.close()
    check("event=setcred user='root'" in d.log(), "setcred not reached", d.log()[-3000:])


def main():
    name = sys.argv[1]
    fn = globals().get("test_" + name)
    if fn is None:
        print("no test %s" % name)
        return 2
    e = Env()
    try:
        fn(e)
    except Failure as f:
        print("FAIL %s: %s" % (name, f))
        return 1
    finally:
        e.close()
    print("ok %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
