#!/usr/bin/env python3
"""The fleet story behind scripts/demo --fleet: one directory (a real slapd with the otp
overlay, our schema and the shipped ACLs), two hosts (two PAM services, each with its own
config and host identity: A over ldapi://, B over ldaps:// with the sandbox's CA) and one
mfa-resetd on host B. alice enrolls on A and logs in on B with the next code of the same
app; the code used on B is refused on A; a code spent on a directory bind (slapo-otp) is
refused by pam_totp; bob resets her once and both hosts send her to enrollment; carol is
refused; bob lists the directory's view from host B.

Everything lives in one temp directory: the slapd (tests/ldap/slapd_fixture.py, imported,
not copied) listens on a socket in it and on 127.0.0.1, the hosts' PAM services come from
pam_wrapper and the users and groups from nss_wrapper. slapd and mfa-resetd are stopped and
the directory removed at the end, also on failure, Ctrl-C or SIGTERM."""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "ldap"))
import slapd_fixture as fx  # noqa: E402
from demo import Login, bad, note, ok, paint, step, wait_for_next_code  # noqa: E402

# the fixture's people have uidNumber 2000, 2001, 2002: the same uids in nss_wrapper
USERS = {"alice": 2000, "bob": 2001, "carol": 2002}
GROUPS = {"mfa-users": ["alice", "bob", "carol"], "mfa-admins": ["bob"]}
WINDOW = 1  # the default totp.window: a code of the next 30 seconds is accepted now


def now_step():
    return int(time.time()) // 30


def code(key, s):
    return subprocess.run(["oathtool", "--totp", "-b", "-N", "@%d" % (s * 30), key],
                          check=True, capture_output=True, text=True).stdout.strip()


def next_step(last):
    """The first step after last whose code is accepted now: each code works once, and a
    code is accepted up to WINDOW steps early, so wait only when that is not enough."""
    s = last + 1
    while s > now_step() + WINDOW:
        time.sleep(30 - time.time() % 30 + 0.2)
    return s


class Host:
    """One host: its PAM service (pam_wrapper), its pam_totp.conf on store = "ldap" with its
    own identity and password file, and its (unused) state directory."""

    def __init__(self, fleet, name, uri, extra=""):
        self.name, self.build, self.fleet = name, fleet.build, fleet
        self.dir = os.path.join(fleet.dir, name)
        os.makedirs(os.path.join(self.dir, "pam.d"))
        os.mkdir(os.path.join(self.dir, "state"), 0o700)
        self.service = "pam_totp-demo-" + name
        self.config = os.path.join(self.dir, "pam_totp.conf")
        pwfile = self._secret("ldap.pw", name + "-secret")
        with open(self.config, "w") as f:
            f.write('issuer = "pam_totp fleet demo";\nstate_dir = "%s/state";\n'
                    'enforce = { groups = [ "mfa-users" ]; };\n'
                    'enrollment = { recovery_codes = 3; };\n'
                    'store = "ldap";\nldap = {\n  uri = "%s";\n  bind = "simple";\n'
                    '  bind_dn = "%s";\n  bind_password_file = "%s";\n  ca_file = "%s";\n'
                    '  person_base = "ou=people,%s";\n  token_base = "ou=tokens,%s";\n'
                    '  timeout_ms = 5000;%s\n};\n'
                    % (self.dir, uri, fx.host_dn(name), pwfile, fleet.slapd.ca, fx.SUFFIX,
                       fx.SUFFIX, extra))
        os.chmod(self.config, 0o644)
        module = os.path.join(self.build, "pam_module/pam_totp.so")
        with open(os.path.join(self.dir, "pam.d", self.service), "w") as f:
            f.write("auth required %s config=%s\n"
                    "account required pam_permit.so\n"
                    "account required %s config=%s\n"
                    % (module, self.config, module, self.config))

    def _secret(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def env(self, pam=True):
        e = dict(os.environ, LDAPNOINIT="1")  # not the host's ldap.conf nor ~/.ldaprc
        libs = ["libnss_wrapper.so"] + (["libpam_wrapper.so"] if pam else [])
        e.update({"LD_PRELOAD": " ".join(libs),
                  "NSS_WRAPPER_PASSWD": os.path.join(self.fleet.dir, "passwd"),
                  "NSS_WRAPPER_GROUP": os.path.join(self.fleet.dir, "group"),
                  "PAM_WRAPPER": "1" if pam else "0",
                  "PAM_WRAPPER_SERVICE_DIR": os.path.join(self.dir, "pam.d")})
        return e

    def login(self, user, answers, interactive=False):
        return Login(self, user, answers, interactive, service=self.service)


class Fleet:
    def __init__(self, build):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="pam_totp-fleet-demo-")
        os.chmod(self.dir, 0o755)  # the clients (other uids) must reach the daemon's socket
        self.slapd = fx.Slapd(os.path.join(self.dir, "slapd"))
        self.daemon = None
        self.socket = os.path.join(self.dir, "mfa-resetd.sock")

    def start(self):
        self.slapd.start()
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
            for name, uid in USERS.items():
                f.write("%s:x:%d:%d:%s:/home/%s:/bin/sh\n" % (name, uid, uid, name, name))
        with open(os.path.join(self.dir, "group"), "w") as f:
            f.write("root:x:0:\n")
            for name, uid in USERS.items():
                f.write("%s:x:%d:\n" % (name, uid))
            for gid, (name, members) in enumerate(GROUPS.items(), start=3000):
                f.write("%s:x:%d:%s\n" % (name, gid, ",".join(members)))
        self.a = Host(self, "host-a", self.slapd.ldapi)
        # host B also runs mfa-resetd: the same file holds the reset service's identity
        # (used by the daemon only) and the reset section
        rpw = os.path.join(self.dir, "host-b-reset.pw")
        with open(os.open(rpw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(fx.RESETTER + "-secret\n")
        self.b = Host(self, "host-b", self.slapd.ldaps, extra=(
            '\n  reset_bind = "simple";\n  reset_bind_dn = "%s";\n'
            '  reset_bind_password_file = "%s";' % (fx.RESET_DN, rpw)))
        with open(self.b.config, "a") as f:
            f.write('reset = { admin_groups = [ "mfa-admins" ]; socket = "%s"; };\n'
                    % self.socket)

    def start_daemon(self):
        self.daemon_log = os.path.join(self.dir, "mfa-resetd.log")
        self.daemon = subprocess.Popen(
            [os.path.join(self.build, "resetd/mfa-resetd"), "--config", self.b.config,
             "--socket", self.socket, "--foreground", "--log-stderr"],
            env=self.b.env(pam=False), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log_file())
        for _ in range(200):
            if self.daemon.poll() is not None:
                raise SystemExit("mfa-resetd exited:\n" + open(self.daemon_log).read())
            if os.path.exists(self.socket):
                return
            time.sleep(0.05)
        raise SystemExit("mfa-resetd did not start")

    def _log_file(self):
        self.log_fd = open(self.daemon_log, "w")
        return self.log_fd

    def audit_since(self, mark):
        """Prints the daemon's audit lines written after mark; returns the new mark."""
        with open(self.daemon_log, errors="replace") as f:
            f.seek(mark)
            text = f.read()
        for line in text.splitlines():
            if "event=" in line:
                print(paint("2", "    mfa-resetd: " + line.split(": ", 1)[-1]))
        return mark + len(text.encode())

    def close(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        if self.daemon:
            self.log_fd.close()
        self.slapd.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def reset_cmd(fleet, actor, *args):
    """mfa-reset on host B, run as actor's uid (setpriv): no setuid, no privileges."""
    uid = USERS[actor]
    argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
            os.path.join(fleet.build, "resetd/mfa-reset"), "--socket", fleet.socket] + \
        list(args)
    print(paint("1", "    %s@host-b$ mfa-reset %s" % (actor, " ".join(args))))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    for line in (p.stdout + p.stderr).splitlines():
        print("    " + line)
    return p.returncode


def whoami(fleet, user, typed):
    """A bind to the directory as user with password + code (slapo-otp checks the code)."""
    s = fleet.slapd
    print(paint("1", "    %s$ ldapwhoami -x -H %s -D %s -w '%s'"
                % (user, s.ldapi, fx.person_dn(user), fx.PASSWORD[user] + typed)))
    p = s.tool("ldapwhoami", fx.person_dn(user), fx.PASSWORD[user] + typed, [])
    for line in (p.stdout + p.stderr).splitlines():
        print("    " + line)
    return p.returncode


def ask_code(interactive, key, s, why):
    if interactive:
        return input(paint("1", "    the code alice's app shows now: ")).strip()
    c = code(key, s)
    print(paint("2", "    (typed for you: %s)" % why))
    return c


def must(cond, what):
    if not cond:
        raise SystemExit("fleet demo: " + what)


def sandbox(fleet):
    step("The sandbox: one directory, two hosts, one reset daemon")
    fleet.start()
    s = fleet.slapd
    note("slapd (pid %d) with the otp overlay, pam_totp's schema and the shipped ACLs"
         " (etc/ldap/), listening on %s and %s" % (s.pid, s.ldapi, s.ldaps))
    note("the directory knows the people alice, bob and carol and the identities"
         " cn=host-a, cn=host-b and cn=%s" % fx.RESETTER)
    note("host A: PAM service '%s', store = \"ldap\" over ldapi:// as %s"
         % (fleet.a.service, fx.host_dn("host-a")))
    note("host B: PAM service '%s', store = \"ldap\" over ldaps:// (the sandbox's CA) as %s"
         % (fleet.b.service, fx.host_dn("host-b")))
    note("users and groups from nss_wrapper: mfa-users = alice, bob, carol;"
         " mfa-admins = bob")
    fleet.start_daemon()
    note("mfa-resetd runs on host B (%s); it writes resets as %s"
         % (fleet.socket, fx.RESET_DN))
    note("everything is under %s; nothing outside it changes" % fleet.dir)


def enroll_and_roam(fleet, interactive):
    """Enrolls alice on A, logs her in on B, replays B's code on A. Returns (key, last step)."""
    step("alice logs in on host A for the first time: pam_totp enrolls her")
    first = fleet.a.login("alice", [lambda k: (code(k, now_step()), "oathtool --totp -b KEY")],
                          interactive)
    must(first.run(), "enrollment on host A failed")
    last = now_step()
    ok("alice is enrolled on host A: her token is in the directory, not on the host")
    key = first.key

    step("alice logs in on host B with the next code of the same app")
    note("(no enrollment on B: B reads the token A wrote)")
    if interactive:
        wait_for_next_code()
    tries = 3 if interactive else 1
    while True:
        s = next_step(last)
        on_b = fleet.b.login("alice", [lambda k: (code(key, s), "oathtool, the next code")],
                             interactive)
        if on_b.run():
            break
        tries -= 1
        must(tries > 0 and not on_b.key, "login on host B failed")
        note("try again with the code the app shows now")
    must(not on_b.key, "host B enrolled alice a second time")
    last = max(s, now_step())
    ok("alice is logged in on host B")

    step("the code alice just used on host B, typed again on host A")
    used = on_b.typed[-1]
    replay = fleet.a.login("alice", [lambda k: (used, "the code she typed on host B")])
    must(not replay.run() and replay.told("already used"),
         "host A did not refuse the code spent on host B as used")
    bad("host A refuses it: one code, one login, across the fleet")
    return key, last


def bind_with_code(fleet, key, last, interactive):
    step("alice binds to the directory with her password + code (slapo-otp)")
    note("(the otp overlay checks the code on the same token entry, its last time step:"
         " the watermark pam_totp uses)")
    if interactive:
        wait_for_next_code()
    s = next_step(last)
    typed = ask_code(interactive, key, s, "oathtool, the next code")
    rc = whoami(fleet, "alice", typed)
    must(rc == 0, "ldapwhoami with password + code exited %d" % rc)
    ok("the directory bound alice with password + code")

    step("that code again, at pam_totp on host A")
    spent = fleet.a.login("alice", [lambda k: (typed, "the code she bound with")])
    must(not spent.run() and spent.told("already used"),
         "pam_totp did not refuse the code spent on a directory bind as used")
    bad("pam_totp refuses it: the directory bind spent it")
    return max(s, now_step())


def reset_once(fleet, key, last, interactive):
    step("alice has lost her phone. bob, an administrator, resets her token on host B")
    mark = os.path.getsize(fleet.daemon_log)
    rc = reset_cmd(fleet, "bob", *(["alice"] if interactive else ["--yes", "alice"]))
    fleet.audit_since(mark)
    must(rc == 0, "mfa-reset by bob exited %d" % rc)
    ok("mfa-reset exited 0: the token entry in the directory says 'reset', once, for all hosts")
    must(reset_cmd(fleet, "bob", "--status", "alice") == 0, "mfa-reset --status failed")

    step("carol is not an administrator: the daemon refuses her (kernel peer credentials)")
    mark = os.path.getsize(fleet.daemon_log)
    rc = reset_cmd(fleet, "carol", "--yes", "alice")
    fleet.audit_since(mark)
    must(rc == 3, "carol's mfa-reset exited %d, expected 3" % rc)
    bad("mfa-reset exited 3 (not authorized); nothing changed, the attempt is logged")

    step("alice logs in on host A: it sends her to enrollment")
    note("(she types a code of her old app; it is refused, and she leaves this login)")
    if interactive:
        note("(this one is typed for you: do not scan this QR code, host B shows another)")
    s = next_step(last)
    on_a = fleet.a.login("alice", [lambda k: (code(key, s), "the OLD key's code")])
    must(not on_a.run() and on_a.key and on_a.key != key,
         "host A did not send alice to enrollment with a new key")
    bad("the old key opens nothing; host A offered a new key and saved nothing")

    step("alice logs in on host B: it sends her to enrollment too, and she enrolls there")
    again = fleet.b.login("alice", [lambda k: (code(k, now_step()), "oathtool, the NEW key")],
                          interactive)
    must(again.run() and again.key not in (None, key, on_a.key),
         "re-enrollment on host B failed")
    ok("alice is enrolled again, with a new key, and logged in on host B")
    return again.key, now_step()


def story(fleet, interactive):
    sandbox(fleet)
    key, last = enroll_and_roam(fleet, interactive)
    last = bind_with_code(fleet, key, last, interactive)
    key, last = reset_once(fleet, key, last, interactive)

    step("alice logs in on host A with the next code of her new key")
    if interactive:
        wait_for_next_code()
    s = next_step(last)
    must(fleet.a.login("alice", [lambda k: (code(key, s), "oathtool, the next code")],
                       interactive).run(), "login on host A with the new key failed")
    ok("alice is logged in on host A: the new token is the fleet's")

    step("bob lists, from host B, every person with a token: the directory's view")
    rc = reset_cmd(fleet, "bob", "--list")
    must(rc == 0, "mfa-reset --list exited %d" % rc)
    step("That was the real pam_totp.so, mfa-resetd, mfa-reset and slapd."
         " See README.md to deploy.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--interactive", action="store_true",
                    help="scan the QR code with a phone app and type the codes yourself")
    a = ap.parse_args()
    if a.interactive and not sys.stdin.isatty():
        raise SystemExit("--interactive needs a terminal")
    # Ctrl-C unwinds through the finally below even when started with SIGINT ignored (a
    # background job of a script), and so do SIGTERM and SIGHUP
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    fleet = Fleet(a.build)
    try:
        story(fleet, a.interactive)
    finally:
        fleet.close()


if __name__ == "__main__":
    main()
