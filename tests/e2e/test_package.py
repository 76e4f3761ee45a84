#!/usr/bin/env python3
"""The Debian package, end to end on this machine (run by scripts/test, not by meson: it builds
the package from the source tree and installs it for real).

  test_package.py

1. builds the binary packages (dpkg-buildpackage -us -uc -b on a copy of the source tree) and
   runs lintian on them: any error or warning fails;
2. in a private mount namespace where /etc/pam.d and /var/lib/pam are copies (so the host's PAM
   configuration is never written, even if this dies), installs them with apt-get, checks the
   files, the conffile, the state directory and that the profile is not enabled; enables it with
   pam-auth-update and checks where it landed; logs in through the generated common-auth and
   common-account with pamtester, as real short-lived users (wrong password: pam_totp is never
   reached; enrollment; next code; wrong code; a user who is not enforced); edits the conffile
   and reinstalls (the edit stays); removes (state kept, pam.d no longer names pam_totp, logins
   still work) and purges (state directory and config gone);
3. whatever happened: purges the packages if still installed, deletes the users and groups,
   and checks that /etc/pam.d, /var/lib/pam and /usr/share/pam-configs are as they were
   (restoring them from a copy, and failing, if not).
Needs root. Exit 0 all good, 1 a check failed, 77 not root (outside CI)."""
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from package_checks import (  # noqa: E402  (same directory)
    CONFIG, PACKAGES, STATE_DIR, WATCHED, Failure, Users, check, check_conffile_kept,
    check_enabled_profile, check_installed_files, check_logins, check_purge, check_remove,
    check_remove_refused, check_reset_tools, edit_config, fingerprint, installed, run, say)

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


# --- 1. build and lintian -------------------------------------------------------------------

def build(work):
    src = os.path.join(work, "src")
    os.mkdir(src)
    # The files git knows (tracked and new, not ignored), so build directories stay out; a
    # tree that is not a git checkout is taken whole, less build*/.
    r = run("git", "-C", TOP, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
            check=False)
    if r.returncode == 0:
        names = [n for n in r.stdout.split("\0") if n and os.path.lexists(os.path.join(TOP, n))]
    else:
        names = [n for n in os.listdir(TOP) if not n.startswith("build") and n != ".git"]
    listing = os.path.join(work, "files")
    with open(listing, "w") as f:
        f.write("\0".join(names))
    run("tar", "-C", TOP, "--null", "-T", listing, "-cf", os.path.join(work, "src.tar"))
    run("tar", "-C", src, "-xf", os.path.join(work, "src.tar"))
    t = time.time()
    r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=1200)
    check(r.returncode == 0, "dpkg-buildpackage failed", r.stdout, r.stderr)
    say("ok build: dpkg-buildpackage -us -uc -b in %.1f s" % (time.time() - t))
    debs = {}
    for name in os.listdir(work):
        m = re.match(r"^(libpam-totp|mfa-reset-tools)_[^_]+_[a-z0-9]+\.deb$", name)
        if m:
            debs[m.group(1)] = os.path.join(work, name)
    check(sorted(debs) == sorted(PACKAGES), "packages built: %s" % sorted(os.listdir(work)))
    changes = [n for n in os.listdir(work) if n.endswith(".changes")]
    t = time.time()
    r = run("lintian", "--fail-on", "error,warning", os.path.join(work, changes[0]),
            check=False)
    say("lintian (%.1f s): %s" % (time.time() - t, r.stdout.strip() or "no tags"))
    check(r.returncode == 0, "lintian reported errors or warnings", r.stdout, r.stderr)
    say("ok lintian: no error or warning")
    return debs


# --- 2. inside the private mount namespace -----------------------------------------------------

def private_pam(work):
    """/etc/pam.d and /var/lib/pam become copies, seen only by this process and its children."""
    for top, name in (("/etc/pam.d", "pam.d"), ("/var/lib/pam", "var-lib-pam")):
        copy = os.path.join(work, name)
        shutil.copytree(top, copy, symlinks=True)
        run("mount", "--bind", copy, top)



def inner(work, tag, debs):
    private_pam(work)
    users = Users(tag)
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", debs["libpam-totp"],
        debs["mfa-reset-tools"])
    check_installed_files()
    check_enabled_profile()
    edited = edit_config(users)
    check_conffile_kept(debs, edited)
    home = os.path.join(work, "home")
    os.mkdir(home, 0o755)
    users.create(home)
    check_logins(users)
    check_reset_tools(work, users)
    check_remove_refused()
    check_remove(users)
    check_purge()


def inner_cleanup(work):
    """Purges what is left, with the PAM files private too (prerm runs pam-auth-update)."""
    private_pam(work)
    left = [p for p in PACKAGES if installed(p)]
    if left:
        run("dpkg", "-P", *left, check=False)


# --- 3. the outer process: build, run the namespace, undo everything --------------------------

def in_namespace(*args):
    return subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                           os.path.abspath(__file__)] + list(args), timeout=1200)


def outer():
    if os.geteuid() != 0:
        print("needs root (installs packages, creates users)")
        return 1 if os.environ.get("CI") else 77
    already = [p for p in PACKAGES if installed(p)]
    if already:
        print("FAIL package: %s already installed on this machine; this test installs and "
              "purges them and will not touch an installation it did not make: remove them "
              "first (apt-get purge %s)" % (" ".join(already), " ".join(already)))
        return 1
    # Purge deletes these: never those of an installation from source.
    found = [p for p in (STATE_DIR, CONFIG) if os.path.lexists(p)]
    if found:
        print("FAIL package: %s exist (an installation from source?); this test would delete "
              "them when it purges the package: move them away first" % " ".join(found))
        return 1
    work = tempfile.mkdtemp(prefix="pam_totp-pkg-")
    os.chmod(work, 0o755)
    backup = tempfile.mkdtemp(prefix="pam_totp-pkg-backup-")
    for top in WATCHED:
        if os.path.isdir(top):
            shutil.copytree(top, backup + top, symlinks=True)
    before = fingerprint()
    tag = secrets.token_hex(3)
    status, t0 = 0, time.time()
    # Stopped from outside (a CI timeout): still purge and restore, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    try:
        debs = build(work)
        r = in_namespace("--inner", work, tag, debs["libpam-totp"], debs["mfa-reset-tools"])
        status = 0 if r.returncode == 0 else 1
    except Failure as f:
        print("FAIL package: %s" % f)
        status = 1
    finally:
        status |= cleanup(work, tag, backup, before)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(backup, ignore_errors=True)
    print("%s package (%.0f s)" % ("ok" if status == 0 else "FAIL", time.time() - t0))
    return status


def cleanup(work, tag, backup, before):
    status = 0
    if any(installed(p) for p in PACKAGES):
        cw = os.path.join(work, "cleanup")
        os.makedirs(cw, exist_ok=True)
        in_namespace("--cleanup", cw)
        if any(installed(p) for p in PACKAGES):
            print("FAIL package: could not purge the test packages")
            status = 1
    for u in ("pkgt%se" % tag, "pkgt%sn" % tag, "pkgt%su" % tag):
        subprocess.run(["userdel", u], capture_output=True)
    after = fingerprint()
    if after != before:
        changed = sorted(set(before.items()) ^ set(after.items()))
        print("FAIL package: the host's PAM files changed; restoring them: %s" % changed[:10])
        for top in WATCHED:
            shutil.rmtree(top, ignore_errors=True)
            if os.path.isdir(backup + top):
                shutil.copytree(backup + top, top, symlinks=True)
        status = 1
    return status


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        work, tag, pam_deb, tools_deb = sys.argv[2:6]
        try:
            inner(work, tag, {"libpam-totp": pam_deb, "mfa-reset-tools": tools_deb})
        except Failure as f:
            print("FAIL package: %s" % f, flush=True)
            return 1
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--cleanup":
        inner_cleanup(sys.argv[2])
        return 0
    return outer()


if __name__ == "__main__":
    sys.exit(main())
