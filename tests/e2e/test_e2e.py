#!/usr/bin/env python3
"""End to end, the way administrators deploy it: a private sshd on 127.0.0.1 whose PAM stack
(pam_unix, then the built pam_totp.so) comes from a private directory through pam_wrapper, real
short-lived users and groups (useradd/groupadd, removed afterwards even on failure), the real ssh
client, codes from oathtool, and a reset through a running mfa-resetd by an admin user.
  test_e2e.py sshd_story        enrollment over ssh, login, wrong code, reset, re-enrollment
  test_e2e.py pamtester_console the same service through pamtester (console-style login)
  test_e2e.py sshd_ldap_story   store = "ldap" against a slapd started here: enrollment over
                                ssh, the next code on a second host (pamtester, its own
                                identity), replay refused across hosts, directory stopped
Needs root. Outside CI a non-root run exits 77 (meson: skipped) because it cannot create users
or start sshd; in CI (CI set) it must run, so there it fails instead."""
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from e2e_lib import OTHER_KEY, Failure, Person, check, on_terminal, undo
from loopback import free_port  # noqa: E402 (tests/, on the path since e2e_lib)

BUILD = os.environ["E2E_BUILD"]
HERE = os.path.dirname(os.path.abspath(__file__))
RECOVERY = re.compile(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){3}")


def run(*argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, **kw)


class World(Person):
    """Users, groups, config, state dir, PAM service, sshd and mfa-resetd; close() undoes all."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.user, self.admin = "e2eu" + tag, "e2ea" + tag
        self.g_users, self.g_admins = "e2e-users-" + tag, "e2e-admins-" + tag
        self.password = "pw-" + secrets.token_hex(8)
        self.dir = tempfile.mkdtemp(prefix="pam_totp-e2e-")
        os.chmod(self.dir, 0o755)  # mfa-reset runs as the admin user and needs the socket
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state, 0o700)
        self.socket = os.path.join(self.dir, "resetd.sock")
        self.config = os.path.join(self.dir, "pam_totp.conf")
        self.procs, self.created_users, self.created_groups = [], [], []
        self.keys = []  # every TOTP key shown on a screen, in order

    def setup_accounts(self):
        for g in (self.g_users, self.g_admins):
            run("groupadd", g)
            self.created_groups.append(g)
        run("useradd", "-M", "-d", self.dir, "-s", "/bin/sh", "-G", self.g_users, self.user)
        self.created_users.append(self.user)
        run("useradd", "-M", "-d", self.dir, "-s", "/bin/sh", "-G", self.g_admins, self.admin)
        self.created_users.append(self.admin)
        run("chpasswd", input="%s:%s\n" % (self.user, self.password))
        with open(os.path.join(self.dir, "password"), "w") as f:
            f.write(self.password)

    def write_config(self, extra="", config=None, services=("sshd", "e2e-login")):
        config = config or self.config
        with open(config, "w") as f:
            f.write('issuer = "pam_totp e2e";\nstate_dir = "%s";\n'
                    'enforce = { groups = [ "%s" ]; };\n'
                    'reset = { admin_groups = [ "%s" ]; socket = "%s"; };\n%s'
                    % (self.state, self.g_users, self.g_admins, self.socket, extra))
        os.chmod(config, 0o644)
        pamd = os.path.join(self.dir, "pam.d")
        os.makedirs(pamd, exist_ok=True)
        # The documented stack (pam_totp(8)): the password stops the stack when wrong
        # (requisite), and the account line writes a confirmed enrollment: sshd calls
        # pam_acct_mgmt in the process that ran pam_authenticate, pam_setcred in another.
        module = "%s/pam_module/pam_totp.so config=%s" % (BUILD, config)
        stack = ("auth requisite pam_unix.so\n"
                 "auth required %s\n"
                 "account required pam_unix.so\n"
                 "account required %s\n"
                 "session required pam_permit.so\n" % (module, module))
        for service in services:
            with open(os.path.join(pamd, service), "w") as f:
                f.write(stack)
        self.pam_env = dict(os.environ, LD_PRELOAD="libpam_wrapper.so", PAM_WRAPPER="1",
                            PAM_WRAPPER_SERVICE_DIR=pamd)

    def close(self):
        undo(self.procs, self.created_users, self.created_groups, self.dir)

    def start_sshd(self):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
            os.path.join(self.dir, "hostkey"))
        self.port = free_port()
        conf = os.path.join(self.dir, "sshd_config")
        with open(conf, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s/hostkey\nPidFile %s/sshd.pid\n"
                    "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n"
                    "PubkeyAuthentication no\nAuthenticationMethods keyboard-interactive\n"
                    "MaxAuthTries 3\nLoginGraceTime 60\n" % (self.port, self.dir, self.dir))
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        p = subprocess.Popen([sshd, "-D", "-e", "-f", conf], env=self.pam_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        import select
        seen, deadline = "", time.time() + 30
        while "Server listening" not in seen and time.time() < deadline:
            if select.select([p.stderr], [], [], 1)[0]:
                line = p.stderr.readline()
                if not line:
                    break
                seen += line
        check("Server listening" in seen, "sshd did not start within 30 s", seen)

    def start_resetd(self):
        p = subprocess.Popen([os.path.join(BUILD, "resetd/mfa-resetd"), "--config", self.config,
                              "--socket", self.socket, "--foreground"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        for _ in range(200):
            if os.path.exists(self.socket):
                return
            time.sleep(0.05)
        raise Failure("mfa-resetd did not start")

    def ssh(self, *plan, shell=False):
        """One ssh login running `id -un`, typed on a pseudo-terminal as a person would;
        plan: the answer to each prompt: "password", "enroll" (the code of the last key shown
        on the screen), "recovery" (the first recovery code shown) or "key:B32:N" (the code
        of key B32 at now + N steps). shell: an interactive login instead (no command: sshd
        then also prints its login messages), where `id -un; exit` is typed at the shell."""
        argv = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20",
                "-o", "PreferredAuthentications=keyboard-interactive",
                "-o", "NumberOfPasswordPrompts=1", "-p", str(self.port)]
        argv += ["-tt", "%s@127.0.0.1" % self.user] if shell else \
            ["%s@127.0.0.1" % self.user, "id", "-un"]
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        return terminal(argv, env, self, list(plan), "id -un; exit\n" if shell else None)

    def answer_more(self, kind):
        if kind == "recovery":
            return self.recovery[0]
        if kind.startswith("at:"):  # at:B32:STEP, the code of an absolute time step
            _, key, step = kind.split(":")
            return run("oathtool", "--totp", "-b", "-N", "@%d" % (int(step) * 30),
                       key).stdout.strip()
        return Person.answer_more(self, kind)

    def shown_keys(self):
        return self.keys

    def remember_codes(self, screen):
        self.recovery = RECOVERY.findall(screen)

    def mfa_reset_as_admin(self, *args):
        pw = pwd.getpwnam(self.admin)
        return run("setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                   "--init-groups", os.path.join(BUILD, "resetd/mfa-reset"),
                   "--config", self.config, "--socket", self.socket, *args, check=False)


class Session:
    def __init__(self, rc, screen):
        self.returncode, self.screen = rc, screen

    def last_line(self):
        lines = [ln.strip() for ln in self.screen.splitlines() if ln.strip()]
        return lines[-1] if lines else ""


def terminal(argv, env, w, plan, shell_input=None):
    """e2e_lib.on_terminal with w.answer, as a Session."""
    return Session(*on_terminal(argv, env, w.answer, plan, shell_input))


def last_rows(text, cols=80, rows=24):
    """The last screen of text on a cols x rows terminal (long lines wrap)."""
    out = []
    for line in text.split("\n"):
        while len(line) > cols:
            out.append(line[:cols])
            line = line[cols:]
        out.append(line)
    return out[-rows:]


def logged_in_as(w, p):
    return p.returncode == 0 and (p.last_line() == w.user or
                                  ("\n%s\n" % w.user) in p.screen)


def test_sshd_story(w):
    w.start_sshd()
    w.start_resetd()

    # A stranger who knows only the user name never reaches enrollment (requisite), and
    # nothing is saved.
    p = w.ssh("wrong-password", "enroll")
    check(not logged_in_as(w, p) and "Key: " not in p.screen, "wrong password enrolled", p.screen)
    check(not os.path.exists(os.path.join(w.state, w.user)), "state saved after a wrong password")

    # An interactive login: sshd also prints its login messages there, where text sent after
    # the last prompt appeared a second time. Every recovery code is shown once.
    p = w.ssh("password", "enroll", shell=True)
    check(logged_in_as(w, p), "first login (enrollment) over ssh failed", p.screen)
    screen = p.screen.split("Password:")[1].split("Verification code:")[0]
    check("Key: " in screen and "URI: otpauth://totp/" in screen and "\u2588" in screen,
          "enrollment screen (key, URI, QR code) not shown before the prompt", screen)
    last = last_rows(p.screen.split("Verification code:")[0] + "Verification code: ")
    check(last[-1].endswith("Verification code: ") and
          any(r.startswith("Key: ") for r in last) and
          any(r.startswith("URI: otpauth://") for r in last),
          "key, URI and prompt not on the last 80x24 screen", "\n".join(last))
    check(os.path.exists(os.path.join(w.state, w.user)), "state not saved")
    key = w.shown_keys()[-1]
    codes = RECOVERY.findall(p.screen)
    check(len(codes) == 5 and len(set(codes)) == 5, "recovery codes shown %s" % codes, p.screen)
    w.remember_codes(p.screen)

    p = w.ssh("password", "recovery", shell=True)
    check(logged_in_as(w, p), "recovery code refused", p.screen)
    check(p.screen.count("Recovery code accepted; 4 left.") == 1, "notice not shown once",
          p.screen)

    p = w.ssh("password", "key:%s:1" % key)
    check(logged_in_as(w, p), "second login with the next code failed", p.screen)
    check("Key: " not in p.screen, "enrolled user shown a key again", p.screen)

    p = w.ssh("password", "key:%s:0" % OTHER_KEY)
    check(not logged_in_as(w, p) and p.returncode != 0, "a wrong code logged in", p.screen)

    r = w.mfa_reset_as_admin("--yes", w.user)
    check(r.returncode == 0 and w.user in r.stdout, "mfa-reset by the admin failed",
          r.stdout, r.stderr)

    p = w.ssh("password", "key:%s:0" % key, "enroll")
    check(logged_in_as(w, p), "re-enrollment after the reset failed", p.screen)
    check("%s asked for a new authenticator token on " % w.admin in p.screen,
          "the reset is not explained", p.screen)
    check("Wrong code" in p.screen, "the old key's code was not refused", p.screen)
    check(w.shown_keys()[-1] != key, "the same key was issued again")

    p = w.ssh("password", "key:%s:0" % key)
    check(not logged_in_as(w, p), "the old key still logs in after re-enrollment", p.screen)


def console(w, *plan):
    """pamtester on a pseudo-terminal through the same PAM stack, as login(1) calls it:
    authenticate, then the account and the credentials."""
    return terminal(["pamtester", "-v", "e2e-login", w.user, "authenticate", "acct_mgmt",
                     "setcred"], w.pam_env, w, list(plan))


def test_pamtester_console(w):
    p = console(w, "password", "enroll")
    check(p.returncode == 0 and "successfully authenticated" in p.screen,
          "console enrollment failed", p.screen)
    check("Key: " in p.screen and "Recovery codes" in p.screen, "enrollment screen missing",
          p.screen)
    key = w.shown_keys()[-1]
    p = console(w, "password", "key:%s:1" % key)
    check(p.returncode == 0 and "successfully authenticated" in p.screen, "console login failed",
          p.screen)
    p = console(w, "password", "key:%s:0" % OTHER_KEY)
    check(p.returncode != 0, "console login with a wrong code succeeded", p.screen)


LDAP_CONFIG = """store = "ldap";
ldap = {{
  uri = "{uri}";
  bind = "simple";
  bind_dn = "{dn}";
  bind_password_file = "{pwfile}";
  ca_file = "{ca}";
  person_base = "ou=people,{suffix}";
  token_base = "ou=tokens,{suffix}";
  timeout_ms = 2000;
}};
totp = {{ window = 2; }};
"""


def ldap_host(w, s, fx, name, uri, services):
    """Host `name` of the fleet: its own config, identity and PAM services."""
    pwfile = os.path.join(w.dir, name + ".pw")
    with open(pwfile, "w") as f:
        f.write(name + "-secret\n")
    os.chmod(pwfile, 0o600)
    w.write_config(LDAP_CONFIG.format(uri=uri, dn=fx.host_dn(name), pwfile=pwfile, ca=s.ca,
                                      suffix=fx.SUFFIX),
                   os.path.join(w.dir, name + ".conf"), services)


def sshd_ldap_story(w, s, fx):
    # the person in the directory (the fixture's rootDN over ldapi)
    ldif = ("dn: %s\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
            "objectClass: oathTOTPUser\noathTOTPToken: %s\nuid: %s\ncn: %s\nsn: %s\n"
            "uidNumber: %d\ngidNumber: 2000\nhomeDirectory: /nonexistent\n"
            % (fx.person_dn(w.user), fx.token_dn(w.user), w.user, w.user, w.user,
               pwd.getpwnam(w.user).pw_uid))
    r = s.tool("ldapadd", None, None, ["-Y", "EXTERNAL"], stdin=ldif)
    check(r.returncode == 0, "person not added", r.stderr)
    ldap_host(w, s, fx, "host-a", s.ldapi, ("sshd",))          # sshd: host A
    ldap_host(w, s, fx, "host-b", s.ldaps, ("e2e-login",))     # the console: host B
    w.start_sshd()

    p = w.ssh("password", "enroll")
    check(logged_in_as(w, p), "enrollment over ssh on the ldap store failed", p.screen)
    check(os.listdir(w.state) == [], "the ldap store wrote a state file", os.listdir(w.state))
    key = w.shown_keys()[-1]
    r = s.tool("ldapsearch", None, None, ["-Y", "EXTERNAL", "-LLL", "-b",
                                          fx.token_dn(w.user), "oathTOTPLastTimeStep"])
    m = re.search(r"^oathTOTPLastTimeStep: (\d+)$", r.stdout, re.M)
    check(m, "no token in the directory", r.stdout, r.stderr)
    step = int(m.group(1))
    # the code that confirmed the enrollment on A is refused on B; the next one works there
    p = console(w, "password", "at:%s:%d" % (key, step))
    check(p.returncode != 0 and "already used" in p.screen, "A's code accepted on B", p.screen)
    p = console(w, "password", "at:%s:%d" % (key, step + 1))
    check(p.returncode == 0 and "successfully authenticated" in p.screen,
          "the next code refused on host B", p.screen)
    check("Key: " not in p.screen, "host B enrolled a second token", p.screen)
    p = w.ssh("password", "at:%s:%d" % (key, step + 1))
    check(not logged_in_as(w, p), "B's code accepted again on A over ssh", p.screen)

    s.pause()  # the directory stops answering: refused within the timeout, never a hang
    try:
        t0 = time.monotonic()
        p = w.ssh("password", "at:%s:%d" % (key, step + 2))
        dt = time.monotonic() - t0
        c = console(w, "password", "at:%s:%d" % (key, step + 2))
    finally:
        s.resume()
    check(not logged_in_as(w, p) and dt < 30, "ssh with the directory stopped (%.1f s)" % dt,
          p.screen)
    check(c.returncode != 0 and "MFA directory cannot be reached" in c.screen,
          "console with the directory stopped", c.screen)
    p = w.ssh("password", "at:%s:%d" % (key, step + 2))
    check(logged_in_as(w, p), "login after the directory came back failed", p.screen)


def test_sshd_ldap_story(w):
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ldap"))
    import slapd_fixture as fx
    with tempfile.TemporaryDirectory(prefix="pam_totp-e2e-ldap-") as tmp, \
            fx.Slapd(os.path.join(tmp, "slapd")) as s:
        sshd_ldap_story(w, s, fx)


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    fn = globals().get("test_" + name)
    if not fn:
        print("no test named %r" % name)
        return 2
    if os.geteuid() != 0:
        print("needs root (creates users, starts sshd)")
        return 1 if os.environ.get("CI") else 77
    w = World()
    try:
        w.setup_accounts()
        w.write_config()
        fn(w)
    except Failure as f:
        print("FAIL %s: %s" % (name, f))
        return 1
    finally:
        w.close()
    print("ok %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
