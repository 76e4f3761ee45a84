#!/usr/bin/env python3
"""The story behind scripts/demo: alice enrolls and logs in, bob (an administrator) resets her
token, carol (not one) is refused, and alice is walked through enrollment again. Real
pam_totp.so through pam_wrapper, real mfa-resetd and mfa-reset over a Unix socket; users and
groups from nss_wrapper; state in a temp directory that is removed at the end."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

USERS = {"alice": 1001, "bob": 1002, "carol": 1003}
GROUPS = {"mfa-users": ["alice", "bob"], "mfa-admins": ["bob"]}
SERVICE = "pam_totp-demo"
COLOUR = sys.stdout.isatty()


def paint(code, text):
    return "\033[%sm%s\033[0m" % (code, text) if COLOUR else text


def step(text):
    print("\n" + paint("1;36", "==> " + text))


def note(text):
    print(paint("2", "    " + text))


def ok(text):
    print(paint("1;32", "    OK: " + text))


def bad(text):
    print(paint("1;31", "    REFUSED: " + text))


class Sandbox:
    def __init__(self, build):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="pam_totp-demo-")
        os.chmod(self.dir, 0o755)  # the clients (other uids) must reach the socket
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state, 0o700)
        self.socket = os.path.join(self.dir, "mfa-resetd.sock")
        self.config = os.path.join(self.dir, "pam_totp.conf")
        self._write_files()
        self.daemon = None

    def _write_files(self):
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
            for name, uid in USERS.items():
                f.write("%s:x:%d:%d:%s:/home/%s:/bin/sh\n" % (name, uid, uid, name, name))
        with open(os.path.join(self.dir, "group"), "w") as f:
            f.write("root:x:0:\n")
            for name, uid in USERS.items():
                f.write("%s:x:%d:\n" % (name, uid))
            for gid, (name, members) in enumerate(GROUPS.items(), start=2000):
                f.write("%s:x:%d:%s\n" % (name, gid, ",".join(members)))
        with open(self.config, "w") as f:
            f.write('issuer = "pam_totp demo";\nstate_dir = "%s";\n'
                    'enforce = { groups = [ "mfa-users" ]; };\n'
                    'enrollment = { recovery_codes = 3; };\n'
                    'reset = { admin_groups = [ "mfa-admins" ]; socket = "%s"; };\n'
                    % (self.state, self.socket))
        os.chmod(self.config, 0o644)
        pamd = os.path.join(self.dir, "pam.d")
        os.mkdir(pamd)
        with open(os.path.join(pamd, SERVICE), "w") as f:
            # the documented stack: the account line saves a confirmed enrollment
            f.write("auth required %s/pam_module/pam_totp.so config=%s\n"
                    "account required pam_permit.so\n"
                    "account required %s/pam_module/pam_totp.so config=%s\n"
                    % (self.build, self.config, self.build, self.config))

    def env(self, pam=True):
        e = dict(os.environ)
        libs = ["libnss_wrapper.so"] + (["libpam_wrapper.so"] if pam else [])
        e.update({"LD_PRELOAD": " ".join(libs),
                  "NSS_WRAPPER_PASSWD": os.path.join(self.dir, "passwd"),
                  "NSS_WRAPPER_GROUP": os.path.join(self.dir, "group"),
                  "PAM_WRAPPER": "1" if pam else "0",
                  "PAM_WRAPPER_SERVICE_DIR": os.path.join(self.dir, "pam.d")})
        return e

    def start_daemon(self):
        self.daemon = subprocess.Popen(
            [os.path.join(self.build, "resetd/mfa-resetd"), "--config", self.config,
             "--socket", self.socket, "--foreground"],
            env=self.env(pam=False), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(self.socket):
                return
            time.sleep(0.05)
        raise SystemExit("mfa-resetd did not start")

    def close(self):
        if self.daemon:
            self.daemon.terminate()
            self.daemon.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def oathtool(key, offset_steps=0):
    when = "@%d" % (int(time.time()) + 30 * offset_steps)
    return subprocess.run(["oathtool", "--totp", "-b", "-N", when, key], check=True,
                          capture_output=True, text=True).stdout.strip()


class Login:
    """One pam_authenticate() of the real module, shown as the user's terminal would show it.
    answers: a list of callables key -> code (automatic), or None to ask the person."""

    def __init__(self, box, user, answers, interactive, service=SERVICE):
        self.box, self.user, self.answers, self.interactive = box, user, answers, interactive
        self.service = service
        self.key = None
        self.typed = []  # what was answered, in order (the fleet demo replays a code)
        self.errors = []  # what the module told the user was wrong

    def told(self, words):
        return any(words in m for m in self.errors)

    def _answer(self, n):
        if self.interactive:
            code = input()
        else:
            code, why = self.answers[n](self.key)
            print(paint("1;33", code) + paint("2", "   (typed for you: %s)" % why))
        self.typed.append(code)
        return code

    def run(self):
        # what login(1) calls: authenticate, then the account and the credentials
        argv = [os.path.join(self.box.build, "tests/pam/pam_driver"), "-o", "auth,acct,cred",
                self.service, self.user]
        # interactive: three tries of a code and the press-Enter after the recovery codes
        argv += ["stdin"] * (len(self.answers) if not self.interactive else 4)
        p = subprocess.Popen(argv, env=self.box.env(), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        prompts = 0
        result = None
        unanswered = False
        tags = ("CALL", "INFO", "ERROR", "PROMPT", "WAITING", "RESULT", "OP", "ANSWERED")
        for line in p.stdout:
            kind, _, text = line.rstrip("\n").partition(" ")
            if kind not in tags:  # a message of several lines (the QR code travels so)
                print("    " + line.rstrip("\n"))
            elif kind == "INFO":
                print("    " + text)
                if text.startswith("Key: "):
                    self.key = text[5:].split("(")[0].replace(" ", "")
            elif kind == "ERROR":
                print("    " + paint("31", text))
                self.errors.append(text)
            elif kind == "PROMPT" and text.startswith("Press Enter") and \
                    not self.interactive:
                print("    " + paint("1", text) + paint("2", "(Enter pressed for you)"))
            elif kind == "PROMPT":
                print("    " + paint("1", text), end="", flush=True)
                unanswered = True
            elif kind == "WAITING":
                unanswered = False
                p.stdin.write(self._answer(prompts) + "\n")
                p.stdin.flush()
                prompts += 1
            elif kind == "RESULT":
                result = text.split(" ", 1)
        p.wait(timeout=60)
        if unanswered:  # the answers ran out: the conversation fails and the login ends
            print(paint("2", "(no answer: the login ends here)"))
        return result and result[0] == "0"


def wait_for_next_code():
    """The app keeps showing the code that confirmed the enrollment until its 30 seconds
    are over, and that code is spent: wait for the next one rather than invite a replay."""
    left = 30 - int(time.time()) % 30
    note("waiting %d seconds for the app to show its next code ..." % left)
    time.sleep(left + 1)


def reset_cmd(box, actor, *args):
    """mfa-reset run as actor's uid (setpriv): no setuid, no privileges."""
    uid = USERS[actor]
    argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
            os.path.join(box.build, "resetd/mfa-reset"), "--socket", box.socket,
            "--config", box.config] + list(args)
    print(paint("1", "    %s$ mfa-reset %s" % (actor, " ".join(args))))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    for line in (p.stdout + p.stderr).splitlines():
        print("    " + line)
    return p.returncode


def story(box, interactive):
    step("The sandbox")
    note("users alice, bob and carol come from nss_wrapper; mfa-users = alice, bob;"
         " mfa-admins = bob")
    note("PAM service '%s': auth and account required pam_totp.so (pam_wrapper)" % SERVICE)
    note("state directory %s (0700); nothing outside it changes" % box.state)
    box.start_daemon()
    note("mfa-resetd is listening on %s" % box.socket)

    step("alice logs in for the first time: she has no token yet, so pam_totp enrolls her")
    first = Login(box, "alice", [lambda k: (oathtool(k), "oathtool --totp -b KEY")],
                  interactive)
    if not first.run():
        raise SystemExit("enrollment failed")
    ok("alice is enrolled and logged in")
    old_key = first.key

    step("alice logs in again with the code her app shows now")
    note("(the code that confirmed the enrollment is spent: each code works once,"
         " so the next 30-second code is typed)")
    if interactive:
        wait_for_next_code()
    tries = 3 if interactive else 1
    while not Login(box, "alice", [lambda k: (oathtool(old_key, 1), "oathtool, next step")],
                    interactive).run():
        tries -= 1
        if tries == 0:
            raise SystemExit("login failed")
        note("try again with the code the app shows now")
    ok("alice is logged in")

    step("alice has lost her phone. bob, an administrator, resets her token")
    rc = reset_cmd(box, "bob", *(["alice"] if interactive else ["--yes", "alice"]))
    if rc != 0:
        raise SystemExit("mfa-reset by bob exited %d" % rc)
    ok("mfa-reset exited 0")

    step("carol is not an administrator: the daemon refuses her (kernel peer credentials)")
    rc = reset_cmd(box, "carol", "--yes", "alice")
    if rc != 3:
        raise SystemExit("carol's mfa-reset exited %d, expected 3" % rc)
    bad("mfa-reset exited 3 (not authorized); nothing changed, the attempt is logged")

    step("bob checks alice's state")
    reset_cmd(box, "bob", "--status", "alice")

    step("alice logs in: the reset forces a new enrollment with a new key")
    note("(first she types a code from her old app: the old key no longer works)")
    again = Login(box, "alice", [lambda k: (oathtool(old_key, 1), "the OLD key's code"),
                                 lambda k: (oathtool(k), "oathtool, the NEW key")],
                  interactive)
    if not again.run():
        raise SystemExit("re-enrollment failed")
    ok("alice is enrolled again with a new key and logged in")

    step("every user with state, as an administrator sees it")
    reset_cmd(box, "bob", "--list")
    step("That was the real pam_totp.so, mfa-resetd and mfa-reset. See README.md to deploy.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--interactive", action="store_true",
                    help="scan the QR code with a phone app and type the codes yourself")
    a = ap.parse_args()
    if a.interactive and not sys.stdin.isatty():
        raise SystemExit("--interactive needs a terminal")
    box = Sandbox(a.build)
    try:
        story(box, a.interactive)
    finally:
        box.close()


if __name__ == "__main__":
    main()
