#!/usr/bin/env python3
"""`meson install` from source, into a private DESTDIR: the files land where README says, and a
second install keeps an edited /etc/pam_totp.conf (only a missing config is installed).
  test_install.py install_keeps_config"""
import os
import shutil
import subprocess
import sys
import tempfile

BUILD = os.environ["E2E_BUILD"]


def install(dest):
    r = subprocess.run(["meson", "install", "--no-rebuild", "-C", BUILD, "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("FAIL: meson install: %s%s" % (r.stdout[-2000:], r.stderr[-2000:]))


def find(dest, *names):
    """Where each installed file landed, relative to dest."""
    found = {}
    for root, _, files in os.walk(dest):
        for f in files:
            if f in names:
                found[f] = os.path.relpath(os.path.join(root, f), dest)
    return found


def test_install_keeps_config(dest):
    install(dest)
    where = find(dest, "mfa-reset", "mfa-resetd", "pam_totp.so")
    # mfa-reset is for unprivileged administrators: on a normal user's PATH.
    assert where.get("mfa-reset", "").endswith("bin/mfa-reset") \
        and "sbin" not in where["mfa-reset"], "mfa-reset installed as %r" % where.get("mfa-reset")
    assert "sbin/mfa-resetd" in where.get("mfa-resetd", ""), where
    conf = [os.path.join(r, f) for r, _, fs in os.walk(dest) for f in fs
            if f == "pam_totp.conf" and r.endswith("/etc")]
    assert len(conf) == 1, "no etc/pam_totp.conf installed: %r" % conf
    with open(conf[0], "a") as f:
        f.write("# an administrator's edit\n")
    with open(conf[0]) as f:
        edited = f.read()
    install(dest)
    with open(conf[0]) as f:
        assert f.read() == edited, "a second meson install overwrote the edited config"


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    fn = globals().get("test_" + name)
    if not fn:
        print("no test named %r" % name)
        return 2
    dest = tempfile.mkdtemp(prefix="pam_totp-install-")
    try:
        fn(dest)
    except AssertionError as e:
        print("FAIL %s: %s" % (name, e))
        return 1
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    print("ok %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
