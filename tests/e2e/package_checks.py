"""What test_package.py checks inside its private mount namespace, against the installed
packages: files, conffile, state directory, the pam-auth-update profile, logins through it with
pamtester, the reset tools, remove and purge. Also the helpers both files use."""
import hashlib
import os
import re
import secrets
import stat
import subprocess
import time

from e2e_lib import OTHER_KEY, Failure, Person, check, on_terminal

PACKAGES = ("libpam-totp", "mfa-reset-tools")
MODULE = "/usr/lib/x86_64-linux-gnu/security/pam_totp.so"
STATE_DIR = "/var/lib/pam_totp"
CONFIG = "/etc/pam_totp.conf"
SERVICE = "pam-totp-pkgtest"
WATCHED = ("/etc/pam.d", "/var/lib/pam", "/usr/share/pam-configs")


def run(*argv, **kw):
    kw.setdefault("check", True)
    kw.setdefault("timeout", 600)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL  # dpkg must never wait for an answer
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, env=env, **kw)
    except subprocess.CalledProcessError as e:
        raise Failure("%s exited %d" % (" ".join(argv), e.returncode), e.stdout, e.stderr)


def say(msg):
    print(msg, flush=True)


def installed(pkg):
    r = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg, check=False)
    # Second letter: the package's state; "n" is "not installed" ("c": config files left).
    return r.returncode == 0 and len(r.stdout) >= 2 and r.stdout[1] != "n"


def fingerprint():
    """Every file under WATCHED with its content hash and mode: what must not change."""
    out = {}
    for top in WATCHED:
        for root, dirs, files in os.walk(top):
            for name in sorted(dirs + files):
                p = os.path.join(root, name)
                st = os.lstat(p)
                h = ""
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        h = hashlib.sha256(f.read()).hexdigest()
                elif stat.S_ISLNK(st.st_mode):
                    h = os.readlink(p)
                out[p] = (st.st_mode, st.st_uid, h)
    return out


def pam_lines(name, kind):
    with open(os.path.join("/etc/pam.d", name)) as f:
        return [ln.split() for ln in f if ln.strip() and not ln.startswith("#")
                and ln.split()[0] == kind]


def names_totp(lines):
    return [i for i, ln in enumerate(lines) if "pam_totp.so" in ln]


def pamd_mentions_totp():
    r = run("grep", "-rl", "pam_totp", "/etc/pam.d", check=False)
    return r.stdout.split()


def check_installed_files():
    for p in (MODULE, "/usr/bin/mfa-reset", "/usr/sbin/mfa-resetd", "/usr/share/pam-configs/totp",
              "/lib/systemd/system/mfa-resetd.service", "/lib/systemd/system/mfa-resetd.socket",
              "/usr/share/man/man8/pam_totp.8.gz", "/usr/share/man/man5/pam_totp.conf.5.gz",
              "/usr/share/doc/libpam-totp/examples/sshd_config.d/pam_totp.conf"):
        check(os.path.exists(p), "not installed: " + p)
    check(not os.path.exists("/usr/sbin/mfa-reset"), "mfa-reset still in /usr/sbin")
    conff = run("dpkg-query", "-W", "-f=${Conffiles}", "libpam-totp").stdout
    check(re.search(r"^\s*%s\s" % re.escape(CONFIG), conff, re.M), "not a conffile: " + CONFIG,
          conff)
    deps = run("dpkg-query", "-W", "-f=${Depends}", "libpam-totp").stdout
    check(re.search(r"\blibqrencode4\b", deps), "libpam-totp does not depend on libqrencode4", deps)
    st = os.lstat(STATE_DIR)
    check(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0,
          "state directory not a 0700 root directory: %o uid %d" % (st.st_mode, st.st_uid))
    check(pamd_mentions_totp() == [], "installing enabled pam_totp by itself",
          pamd_mentions_totp())
    say("ok install: files, /usr/bin/mfa-reset, conffile, Depends libqrencode4, "
        "state dir 0700 root, profile not enabled")


def read(path):
    with open(path) as f:
        return f.read()


def check_enabled_profile():
    common = {n: read(os.path.join("/etc/pam.d", n)) for n in ("common-auth", "common-account")}
    run("pam-auth-update", "--enable", "totp")
    check(all(read(os.path.join("/etc/pam.d", n)) != t for n, t in common.items()),
          "pam-auth-update --enable totp changed nothing")
    run("pam-auth-update", "--disable", "totp")
    for n, t in common.items():
        check(read(os.path.join("/etc/pam.d", n)) == t, "--disable totp did not restore " + n,
              read(os.path.join("/etc/pam.d", n)))
    run("pam-auth-update", "--enable", "totp")
    auth = pam_lines("common-auth", "auth")
    at = names_totp(auth)
    check(len(at) == 1, "common-auth should name pam_totp once", auth)
    deny = [i for i, ln in enumerate(auth) if ln[1] == "requisite" and ln[2] == "pam_deny.so"]
    check(deny and deny[0] < at[0] and auth[at[0]][1] == "required",
          "pam_totp is not a required module after 'requisite pam_deny.so' in common-auth", auth)
    # Nothing between the password block's end and pam_totp may jump over or end the stack.
    for ln in auth[deny[0] + 1:at[0]]:
        check(not ln[1].startswith("[") and ln[1] not in ("sufficient",),
              "a line before pam_totp could skip it: %s" % " ".join(ln))
    acct = pam_lines("common-account", "account")
    ac = names_totp(acct)
    check(len(ac) == 1 and acct[ac[0]][1] == "required", "common-account: no "
          "'account required pam_totp.so'", acct)
    say("ok enable/disable/enable: pam_totp required in common-auth after 'requisite pam_deny.so' (line %d of "
        "%d auth lines), required in common-account" % (at[0] + 1, len(auth)))


class Users(Person):
    def __init__(self, tag):
        self.enforced, self.other = "pkgt%se" % tag, "pkgt%sn" % tag
        self.unenrolled = "pkgt%su" % tag  # enforced, never logs in
        self.password = "pw-" + secrets.token_hex(8)
        self.keys = []

    def create(self, home):
        for u in (self.enforced, self.other):
            run("useradd", "-M", "-d", home, "-s", "/bin/sh", u)
            run("chpasswd", input="%s:%s\n" % (u, self.password))


def login(users, user, *plan):
    """pamtester authenticate + acct_mgmt on a pseudo-terminal, as sshd or login would call
    them; answers each prompt from plan. Returns (exit status, screen)."""
    argv = ["pamtester", "-v", SERVICE, user, "authenticate", "acct_mgmt"]
    return on_terminal(argv, None, users.answer, plan)


def ok_login(rc, screen):
    return rc == 0 and "successfully authenticated" in screen \
        and "acct_mgmt" in screen and "Module is unknown" not in screen


def check_logins(users):
    with open(os.path.join("/etc/pam.d", SERVICE), "w") as f:
        f.write("# package test: the generated common-* files, as sshd or login use "
                "them\n@include common-auth\n@include common-account\n")
    exported = run("nm", "-D", "--defined-only", MODULE).stdout
    check("pam_sm_acct_mgmt" in exported, "the installed pam_totp.so has no pam_sm_acct_mgmt, "
          "but the profile puts 'account required pam_totp.so' into common-account: every "
          "login would fail ('Module is unknown'). The module must export it (issue 10 item 1).")
    e = users.enforced
    rc, screen = login(users, e, "wrong-password", "enroll")
    check(rc != 0 and "Verification code" not in screen and "Key:" not in screen,
          "a wrong password reached pam_totp (enrollment shown to who did not prove it)", screen)
    check(not os.path.exists(os.path.join(STATE_DIR, e)), "state written after a wrong password")
    rc, screen = login(users, e, "password", "enroll")
    check(ok_login(rc, screen) and "Key: " in screen, "enrollment through the profile failed",
          screen)
    check(os.path.exists(os.path.join(STATE_DIR, e)), "enrollment not saved in " + STATE_DIR)
    key = users.keys[-1]
    rc, screen = login(users, e, "password", "key:%s:1" % key)
    check(ok_login(rc, screen) and "Key: " not in screen, "login with the next code failed",
          screen)
    rc, screen = login(users, e, "password", "key:%s:0" % OTHER_KEY)
    check(rc != 0, "a wrong code logged in", screen)
    rc, screen = login(users, users.other, "password")
    check(ok_login(rc, screen) and "Verification code" not in screen,
          "a user who is not enforced could not log in with the password alone", screen)
    # cron, and anything else that runs only the account step: the profile's account line
    # must not refuse it, whether the user is enforced and enrolled, not enrolled, or neither.
    with open(os.path.join("/etc/pam.d", SERVICE + "-cron"), "w") as f:
        f.write("@include common-account\n")
    run("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", users.unenrolled)
    for u in (e, users.other, users.unenrolled):
        r = run("pamtester", SERVICE + "-cron", u, "acct_mgmt", check=False)
        check(r.returncode == 0, "the account step alone (as cron runs it) refused " + u,
              r.stdout, r.stderr)
    say("ok logins through the profile: wrong password stops before pam_totp, enrollment, "
        "next code, wrong code refused, not-enforced user with the password only; the account "
        "step alone (cron) passes for all three kinds of user")


def edit_config(users):
    with open(CONFIG) as f:
        text = f.read()
    edited, n = re.subn(r"^(\s*)users\s*=\s*\[\s*\];",
                        r'\1users = [ "%s", "%s" ];' % (users.enforced, users.unenrolled),
                        text, count=1, flags=re.M)
    check(n == 1, "no 'users = [];' line to edit in " + CONFIG, text)
    edited = "# edited by the package test\n" + edited
    with open(CONFIG, "w") as f:
        f.write(edited)
    return edited


def check_conffile_kept(debs, edited):
    """A reinstall runs the maintainer scripts as an upgrade does (prerm upgrade, postinst
    configure with the old version)."""
    run("dpkg", "-i", debs["libpam-totp"])
    with open(CONFIG) as f:
        check(f.read() == edited, "reinstalling the package overwrote the edited " + CONFIG)
    check(names_totp(pam_lines("common-auth", "auth")) and
          names_totp(pam_lines("common-account", "account")),
          "reinstalling the package took pam_totp out of PAM (the administrator enabled it)")
    say("ok conffile: an edited %s survives a reinstall; the profile stays enabled" % CONFIG)


def check_reset_tools(work, users):
    """The installed daemon and client: root may ask, a user outside admin_groups may not;
    mfa-reset is on a normal user's PATH."""
    sock = os.path.join(work, "resetd.sock")
    d = subprocess.Popen(["/usr/sbin/mfa-resetd", "--foreground", "--socket", sock],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        check(os.path.exists(sock), "the installed mfa-resetd did not start")
        r = run("/usr/bin/mfa-reset", "--socket", sock, "--status", users.enforced,
                check=False)
        check(r.returncode == 0 and users.enforced in r.stdout,
              "root's mfa-reset --status through the installed daemon failed", r.stdout, r.stderr)
        r = run("su", "-s", "/bin/sh", users.other, "-c",
                "command -v mfa-reset && mfa-reset --socket %s --status %s"
                % (sock, users.enforced), check=False)
        check(r.stdout.startswith("/usr/bin/mfa-reset\n") and r.returncode == 3,
              "a non-admin user: mfa-reset not on PATH, or not refused with exit 3 (%d)"
              % r.returncode, r.stdout, r.stderr)
    finally:
        d.terminate()
        d.wait(timeout=10)
    say("ok reset tools: installed daemon and client answer root, refuse a non-admin (exit 3); "
        "mfa-reset on a user's PATH")


def check_remove_refused():
    """A service file written by hand that names the module: removing it would fail every
    login through that service, so the package refuses to go."""
    handmade = os.path.join("/etc/pam.d", SERVICE + "-byhand")
    with open(handmade, "w") as f:
        f.write("auth required pam_unix.so\nauth required pam_totp.so\n")
    r = run("dpkg", "-r", "mfa-reset-tools", "libpam-totp", check=False)
    check(r.returncode != 0 and os.path.exists(MODULE) and installed("libpam-totp"),
          "the package was removed while /etc/pam.d still named pam_totp.so", r.stdout, r.stderr)
    check(SERVICE + "-byhand" in r.stderr, "the refusal does not name the file", r.stderr)
    os.unlink(handmade)
    say("ok remove refused while a PAM file written by hand names pam_totp.so")


def check_remove(users):
    run("dpkg", "-r", "mfa-reset-tools", "libpam-totp")
    check(not os.path.exists(MODULE), "module still there after remove")
    check(pamd_mentions_totp() == [], "pam.d names pam_totp after remove", pamd_mentions_totp())
    check(os.path.exists(os.path.join(STATE_DIR, users.enforced)),
          "remove deleted the state (tokens must survive a remove)")
    check(os.path.exists(CONFIG), "remove deleted the conffile")
    rc, screen = login(users, users.other, "password")
    check(ok_login(rc, screen), "logins fail after the package was removed", screen)
    say("ok remove: profile taken out first, logins work, state and config kept")


def check_purge():
    run("dpkg", "-P", "mfa-reset-tools", "libpam-totp")
    check(not os.path.lexists(STATE_DIR), "purge left " + STATE_DIR)
    check(not os.path.lexists(CONFIG), "purge left " + CONFIG)
    check(pamd_mentions_totp() == [], "pam.d names pam_totp after purge", pamd_mentions_totp())
    if os.path.exists("/var/lib/pam/seen"):
        with open("/var/lib/pam/seen") as f:
            check("totp" not in f.read().split(), "/var/lib/pam/seen still lists totp")
    say("ok purge: state directory, config and profile gone")
