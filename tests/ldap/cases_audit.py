"""Promises of issue 11 item 4 and 5 that the other cases left unproven: the server's name
is verified (not only its CA), ldap:// never falls back to a plain bind when StartTLS is
refused, the bind password file is checked like the config (owner, mode, type, no link,
no wait on a FIFO), and the ACL rules a reader could walk around (compare, recovery hashes,
anonymous compare and add)."""
import base64
import os
import socket
import threading
import time

import slapd_fixture as fx
from ldap_harness import *  # noqa: F401,F403 (the harness is these cases' vocabulary)


def _pipe(a, b):
    try:
        while (data := a.recv(65536)):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Forwarder:
    """A TCP relay on addr:<free port> to 127.0.0.1:target_port (the same server, reached
    under another address than its certificate names)."""

    def __init__(self, addr, target_port):
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(8)
        self.port, self.target = self.sock.getsockname()[1], target_port
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self):
        self.sock.close()


def _port(uri):
    return int(uri.rsplit(":", 1)[1].rstrip("/"))


def test_tls_server_name_is_verified(e):
    # The certificate covers 127.0.0.1 and localhost, signed by the configured CA: reached
    # as 127.0.0.2 the same server is refused, over ldaps:// and over StartTLS.
    for how, uri in (("ldaps", e.s.ldaps), ("starttls", e.s.ldap)):
        scheme = uri.split(":")[0]
        good, bad = Forwarder("127.0.0.1", _port(uri)), Forwarder("127.0.0.2", _port(uri))
        try:
            cfg = e.config("name-ok-" + how, uri="%s://127.0.0.1:%d" % (scheme, good.port),
                           dn=fx.host_dn("host-a"), timeout_ms=TIMEOUT_MS * 3)
            rc, kv = driver(cfg, "load", "alice")
            assert rc == 0 and kv["has_secret"] == "1", (how, kv)  # the relay works
            cfg = e.config("name-bad-" + how, uri="%s://127.0.0.2:%d" % (scheme, bad.port),
                           dn=fx.host_dn("host-a"), timeout_ms=TIMEOUT_MS * 3)
            rc, kv = driver(cfg, "load", "alice")
            assert rc == 1 and kv["result"] == "EPROTO", (how, kv)
        finally:
            good.close()
            bad.close()


def _refusing_starttls_server(seen):
    """An ldap:// 'server' that answers StartTLS with unavailable (52), as a man in the
    middle stripping TLS would, and records every byte the client sends afterwards."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        c.settimeout(3)
        try:
            req = c.recv(4096)
            seen.append(req)
            msgid = req[4] if len(req) > 4 and req[2] == 0x02 and req[3] == 1 else 1
            c.sendall(bytes([0x30, 0x0c, 0x02, 0x01, msgid, 0x78, 0x07,
                             0x0a, 0x01, 0x34, 0x04, 0x00, 0x04, 0x00]))
            while (data := c.recv(4096)):
                seen.append(data)
        except OSError:
            pass
        finally:
            c.close()
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def test_starttls_refused_means_no_plain_bind(e):
    seen = []
    port = _refusing_starttls_server(seen)
    cfg = e.config("stripped", uri="ldap://127.0.0.1:%d" % port, dn=fx.host_dn("host-a"),
                   timeout_ms=TIMEOUT_MS)
    rc, kv = driver(cfg, "load", "alice")
    assert rc == 1 and kv["result"] == "EPROTO", kv
    time.sleep(0.2)
    sent = b"".join(seen)
    assert b"1.3.6.1.4.1.1466.20037" in sent, sent  # it asked for StartTLS
    assert b"host-a-secret" not in sent and b"cn=host-a" not in sent, sent  # and never bound


def test_plain_simple_bind_refused_unless_allowed(e):
    # A plain ldap:// listener (slapd's StartTLS port without TLS asked for) accepts a bind
    # only from a config that allows it; the default config insists on TLS, which the wrong
    # CA then refuses: the password never goes out in clear.
    cfg = e.config("plain-default", uri=e.s.ldap, dn=fx.host_dn("host-a"), ca=e.s.other_ca)
    rc, kv = driver(cfg, "load", "alice")
    assert rc == 1 and kv["result"] == "EPROTO", kv
    cfg = e.config("plain-allowed", uri=e.s.ldap, dn=fx.host_dn("host-a"), ca=e.s.other_ca,
                   plain=True)
    rc, kv = driver(cfg, "load", "alice")
    assert rc == 0 and kv["has_secret"] == "1", kv


def _pw_config(e, name, path):
    return e.config(name, dn=fx.host_dn("host-a"), pwfile=path, timeout_ms=TIMEOUT_MS)


def test_password_file_checked_like_the_config(e):
    good = os.path.join(e.tmp, "good.pw")
    with open(good, "w") as f:
        f.write("host-a-secret\n")
    os.chmod(good, 0o600)
    rc, kv = driver(_pw_config(e, "pw-good", good), "connect")
    assert rc == 0, kv  # the control: this file, as it is, binds
    link = os.path.join(e.tmp, "link.pw")
    os.symlink(good, link)
    rc, kv = driver(_pw_config(e, "pw-link", link), "connect")
    assert rc == 1 and kv["result"] == "ELOOP", kv
    for name, mode, owner in (("group", 0o640, 0), ("world", 0o604, 0),
                              ("owner", 0o600, 4243)):
        p = os.path.join(e.tmp, name + ".pw")
        with open(p, "w") as f:
            f.write("host-a-secret\n")
        os.chmod(p, mode)
        os.chown(p, owner, -1)
        rc, kv = driver(_pw_config(e, "pw-" + name, p), "connect")
        assert rc == 1 and kv["result"] == "EPERM", (name, kv)
    d = os.path.join(e.tmp, "dir.pw")
    os.mkdir(d, 0o700)
    rc, kv = driver(_pw_config(e, "pw-dir", d), "connect")
    assert rc == 1 and kv["result"] in ("EPERM", "EBADFD"), kv


def test_password_file_fifo_refused_without_waiting(e):
    # A FIFO in place of the password file must not hold the login at open(): the config
    # is opened with O_NONBLOCK for this reason; the password file must be too.
    fifo = os.path.join(e.tmp, "fifo.pw")
    os.mkfifo(fifo, 0o600)
    t0 = time.monotonic()
    try:
        rc, kv = driver(_pw_config(e, "pw-fifo", fifo), "connect")
    except Exception as ex:  # subprocess.TimeoutExpired: the driver hung at open()
        raise AssertionError("the driver waited on a FIFO: %r" % ex)
    assert rc == 1 and kv["result"] in ("EPERM", "EBADFD"), kv
    assert time.monotonic() - t0 < 3 * TIMEOUT_MS / 1000


def test_password_file_empty_or_too_long_is_named(e):
    # the administrator reads which file is wrong, not a bare "Invalid argument"
    for name, text, want in (("empty", "", "EINVAL"), ("blank", "\n", "EINVAL"),
                             ("long", "x" * 300, "EFBIG")):
        p = os.path.join(e.tmp, "pw-%s.pw" % name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o600)
        rc, kv = driver(_pw_config(e, "pw-" + name, p), "connect")
        assert rc == 1 and kv["result"] == want, (name, kv)
        assert "bind_password_file" in kv["msg"], (name, kv)


def _compare(e, who, pw, dn, ava):
    return e.s.tool("ldapcompare", who, pw, [dn, ava]).returncode


def test_acl_secret_and_recovery_hashes_never_compared_or_searched(e):
    # ldapcompare answers 6/5 (true/false) to whoever may compare: a secret or a recovery
    # hash guessed by compare would be a secret read one bit at a time.
    # erin (enrolled by cases_access, no slapo-otp link: her password binds alone) asks of
    # her own token; whoami first, so a refused bind cannot pass these checks vacuously
    secret = "oathSecret:: " + base64.b64encode(b"x" * 20).decode()
    person = (fx.person_dn("erin"), fx.PASSWORD["erin"])
    assert e.s.tool("ldapwhoami", *person, []).returncode == 0
    assert e.s.tool("ldapwhoami", fx.RESET_DN, "resetd-secret", []).returncode == 0
    for who, pw in (person, (fx.RESET_DN, "resetd-secret"), (None, None)):
        dn = fx.token_dn("erin")
        assert _compare(e, who, pw, dn, secret) not in (5, 6), who
        assert _compare(e, who, pw, dn, "pamTotpRecoveryHash: x") not in (5, 6), who
        r = e.s.tool("ldapsearch", who, pw, ["-b", dn, "-s", "base", "-LLL",
                                             "(pamTotpRecoveryHash=*)"])
        assert "dn:" not in r.stdout, (who, r.stdout)
        r = e.s.tool("ldapsearch", who, pw, ["-b", dn, "-s", "base", "-LLL",
                                             "pamTotpRecoveryHash", "oathSecret"])
        assert "pamTotpRecoveryHash" not in r.stdout and "oathSecret" not in r.stdout, who
    # a host may compare (it reads the secret anyway): the control that compare works
    assert _compare(e, fx.host_dn("host-a"), "host-a-secret", dn, secret) in (5, 6)
    r = e.s.tool("ldapsearch", *person, ["-b", dn, "-s", "base", "-LLL", "pamTotpStatus"])
    assert "pamTotpStatus: enrolled" in r.stdout, r.stdout  # and erin does read her status


def test_acl_anonymous_and_person_cannot_add_or_delete_tokens(e):
    ldif = ("dn: cn=forged,ou=tokens,%s\nobjectClass: device\nobjectClass: pamTotpToken\n"
            "cn: forged\npamTotpGeneration: 0\n" % fx.SUFFIX)
    for who, pw in ((None, None), (fx.person_dn("erin"), fx.PASSWORD["erin"]),
                    (fx.RESET_DN, "resetd-secret")):
        # 50 insufficientAccess; anonymous is stopped even earlier, 8 strongerAuthRequired
        refused = (50,) if who else (8, 50)
        r = e.s.tool("ldapadd", who, pw, [], stdin=ldif)
        assert r.returncode in refused, (who, r.returncode, r.stderr)
        for dn in (fx.token_dn("alice"), fx.token_dn("erin")):
            r = e.s.tool("ldapdelete", who, pw, [dn])
            assert r.returncode in refused, (who, dn, r.returncode, r.stderr)
    assert load(e.a, "alice")["exists"] == "1" and load(e.a, "erin")["exists"] == "1"



def test_acl_enrolled_token_cannot_be_renamed_or_given_away(e):
    # A host or the reset identity that could rename an enrolled token (then create a new
    # cn=<name> with a secret of its own) or change its owner would reset it by the back door.
    for name in ("alice", "erin"):
        assert load(e.a, name)["status"] == "enrolled"
    for who, pw, name in ((fx.host_dn("host-a"), "host-a-secret", "alice"),
                          (fx.RESET_DN, "resetd-secret", "alice"),
                          (fx.person_dn("erin"), fx.PASSWORD["erin"], "erin")):
        dn = fx.token_dn(name)
        r = e.s.tool("ldapmodrdn", who, pw, [dn, "cn=%s-old" % name])
        assert r.returncode == 50, (who, r.returncode, r.stderr)
        r = e.s.tool("ldapmodify", who, pw, [], stdin="dn: %s\nchangetype: modify\n"
                     "replace: owner\nowner: %s\n" % (dn, fx.person_dn("bob")))
        assert r.returncode == 50, (who, r.returncode, r.stderr)
    for name in ("alice", "erin"):
        t = load(e.a, name)
        assert t["dn"] == fx.token_dn(name) and t["status"] == "enrolled", t
        assert t["has_secret"] == "1", t


# --- entries pam_totp did not write: refused, and the log line says what is wrong ---------
def _replace(dn, attr, value):
    return "dn: %s\nchangetype: modify\nreplace: %s\n%s: %s\n" % (dn, attr, attr, value)


def test_malformed_token_values_fail_closed_and_are_named(e):
    # A token another tool (or a hand edit) left malformed is unreadable, never a token with
    # defaults: load fails with EBADMSG and the directory's message names the attribute.
    e.s.as_root(fx.enrolled_person_ldif("mal", SECRET))
    assert load(e.a, "mal")["status"] == "enrolled"  # the control: the entry as made reads
    dn = fx.token_dn("mal")
    for attr, bad, good in (("oathTOTPLastTimeStep", "-5", "5"),
                            ("oathFailureCount", "99999999999999999999", "0"),
                            ("pamTotpLockedUntil", "20991231000000.5Z", "20000101000000Z"),
                            ("oathHMACAlgorithm", "1.2.840.113549.2.8", "1.2.840.113549.2.7"),
                            ("oathOTPLength", "12", "6"),
                            ("pamTotpStatus", "pending", "enrolled")):
        e.s.as_root(_replace(dn, attr, bad))
        try:
            rc, kv = driver(e.a, "load", "mal")
            assert rc == 1 and kv.get("result") == "EBADMSG" and attr in kv["msg"], (attr, kv)
        finally:
            e.s.as_root(_replace(dn, attr, good))
    assert load(e.a, "mal")["status"] == "enrolled"
    # enrolled, but without the parameters to verify with (no oathTOTPParams class)
    e.s.as_root(fx.enrolled_person_ldif(
        "mal-noparams", SECRET, objectClass=["device", "oathTOTPToken", "pamTotpToken"],
        oathTOTPParams=None, oathOTPLength=None, oathHMACAlgorithm=None,
        oathTOTPTimeStepPeriod=None, oathTOTPTimeStepWindow=None))
    rc, kv = driver(e.a, "load", "mal-noparams")
    assert rc == 1 and kv["result"] == "EBADMSG" and "oathOTPLength" in kv["msg"], kv


def test_two_people_with_one_name_fail_closed_and_are_named(e):
    # A second person entry that also answers to uid=bob (uid is multi-valued): the store
    # picks neither, and says so.
    dup = "uid=bob-twin,ou=people," + fx.SUFFIX
    e.s.as_root("dn: %s\nchangetype: add\nobjectClass: inetOrgPerson\n"
                "objectClass: posixAccount\nuid: bob-twin\nuid: bob\ncn: x\nsn: x\n"
                "uidNumber: 2998\ngidNumber: 2000\nhomeDirectory: /nonexistent\n" % dup)
    try:
        rc, kv = driver(e.a, "load", "bob")
        assert rc == 1 and kv["result"] == "ENOTUNIQ", kv
        assert "more than 1 entry" in kv["msg"], kv
    finally:
        e.s.as_root("dn: %s\nchangetype: delete\n" % dup)
    assert load(e.a, "bob")["exists"] == "1"


def test_short_secret_refused(e):
    # The files store refuses a stored key under MFA_SECRET_LOAD_MIN_BYTES (10): a 9-byte
    # oathSecret (a truncated value, a hand-made token) must not verify codes either.
    e.s.as_root(fx.enrolled_person_ldif("shorty", SECRET[:9]))
    rc, kv = driver(e.a, "load", "shorty")
    assert rc == 1 and kv.get("result") == "EBADMSG" and "oathSecret" in kv["msg"], kv
    e.s.as_root("dn: %s\nchangetype: modify\nreplace: oathSecret\noathSecret:: %s\n"
                % (fx.token_dn("shorty"), base64.b64encode(SECRET[:10]).decode()))
    assert load(e.a, "shorty")["has_secret"] == "1"  # the shortest the files store loads


def test_acl_reset_identity_cannot_rewind_the_watermark(e):
    # The reset identity unlocks (failure count, lockout) and resets (which moves the
    # generation and forces an enrollment); lowering oathTOTPLastTimeStep instead would let
    # a code already used pass again, with nothing in the entry to show it.
    r, pw, dn = fx.RESET_DN, "resetd-secret", fx.token_dn("alice")
    before = load(e.a, "alice")
    assert before["status"] == "enrolled" and int(before["last_step"]) > 0, before
    for change in ("replace: oathTOTPLastTimeStep\noathTOTPLastTimeStep: 0",
                   "delete: oathTOTPLastTimeStep",
                   "replace: oathLastLogin\noathLastLogin: 20000101000000Z"):
        rc = e.s.tool("ldapmodify", r, pw, [], stdin="dn: %s\nchangetype: modify\n%s\n"
                      % (dn, change)).returncode
        assert rc == 50, (change, rc)
    assert load(e.a, "alice")["last_step"] == before["last_step"]
    # what it is there for still works: unlock through the store, as mfa-resetd does
    rc, kv = driver(e.r, "unlock", "alice")
    assert rc == 0, kv
    rc = e.s.tool("ldapsearch", r, pw, ["-b", dn, "-s", "base", "-LLL",
                                        "oathTOTPLastTimeStep"])
    assert "oathTOTPLastTimeStep: " + before["last_step"] in rc.stdout, rc.stdout  # reads it


def test_referral_in_the_person_search_fails_closed(e):
    # A referral object under person_base: slapd answers a subtree search with a
    # continuation reference to whoever may read it (the shipped rules let hosts read no
    # "ref"; a site's own rules may). Referrals are not followed, so the person may live
    # there: "no such person" (a not-enforced person then logs in on the password alone)
    # or the one entry found here would be a guess.
    sfx = fx.SUFFIX
    see_refs = ('dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\nadd: olcAccess\n'
                'olcAccess: {0}to dn.subtree="ou=people,%s" attrs=entry,objectClass,uid,ref'
                ' by dn.children="ou=hosts,%s" read by * break\n' % (sfx, sfx))
    ref = "uid=zed,ou=people," + sfx
    e.s.as_root(see_refs)
    e.s.as_root("dn: %s\nchangetype: add\nobjectClass: referral\n"
                "objectClass: extensibleObject\nuid: zed\nref: ldap://127.0.0.1:9/%s\n"
                % (ref, ref))
    try:
        for name in ("zed", "alice"):
            rc, kv = driver(e.a, "load", name)
            assert rc == 1 and kv["result"] == "EREMOTE" and "referral" in kv["msg"], \
                (name, kv)
    finally:
        r = e.s.tool("ldapdelete", None, None, ["-Y", "EXTERNAL", "-M", ref])  # ManageDsaIT
        assert r.returncode == 0, r.stderr
        e.s.as_root("dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\n"
                    "delete: olcAccess\nolcAccess: {0}\n")
    assert load(e.a, "alice")["status"] == "enrolled"


# --- not a case: the whole run leaves the host's own LDAP setup as it found it -----------

HOST_LDAP = ("/etc/ldap", "/var/lib/ldap", "/etc/default/slapd", "/run/slapd")


def host_ldap_state():
    """Every path, type, mode, owner, size and mtime under the host's own LDAP config, data
    and run directories (what a slapd started with the wrong -F or -h would touch)."""
    seen = []
    for top in HOST_LDAP:
        for root, dirs, files in os.walk(top) if os.path.isdir(top) else [(top, [], [])]:
            for p in [root] + [os.path.join(root, n) for n in sorted(dirs + files)]:
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue
                seen.append((p, st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns))
    return sorted(set(seen))
