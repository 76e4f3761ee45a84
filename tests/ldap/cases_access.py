"""Each rule of etc/ldap/acl.ldif as each identity, and the round trip with slapo-otp."""
import os
import subprocess
import tempfile
import time

import slapd_fixture as fx
from ldap_harness import *  # noqa: F401,F403 (the harness is these cases' vocabulary)
import base64

# --- ACLs: each rule of etc/ldap/acl.ldif, as each identity -----------------------------

def search(e, who, pw, base, attrs, filt="(objectClass=*)", scope="base"):
    r = e.s.tool("ldapsearch", who, pw, ["-b", base, "-s", scope, "-LLL", filt] + attrs)
    return r.returncode, r.stdout


def modify(e, who, pw, dn, change):
    r = e.s.tool("ldapmodify", who, pw, [], stdin="dn: %s\nchangetype: modify\n%s\n" % (dn, change))
    return r.returncode


def test_acl_person_reads_own_status_never_a_secret(e):
    # erin: no oathTOTPUser link, so slapo-otp leaves her password binds alone
    assert driver(e.a, "claim", "erin", SECRET_B32, now_step() - 9)[0] == 0
    erin, pw, dn = fx.person_dn("erin"), fx.PASSWORD["erin"], fx.token_dn("erin")
    _, out = search(e, erin, pw, dn, ["pamTotpStatus", "oathSecret", "oathFailureCount"])
    assert "pamTotpStatus: enrolled" in out and "oathFailureCount: 0" in out, out
    assert "oathSecret" not in out, out
    rc, out = search(e, erin, pw, dn, [], filt="(oathSecret=*)")
    assert "dn:" not in out, out  # not even as a filter
    _, out = search(e, erin, pw, fx.token_dn("bob"), ["pamTotpStatus"])
    assert "pamTotpStatus" not in out, out  # nobody else's status
    assert modify(e, erin, pw, dn, "replace: pamTotpStatus\npamTotpStatus: reset") == 50
    assert modify(e, erin, pw, dn, "replace: oathFailureCount\noathFailureCount: 0") == 50
    assert modify(e, erin, pw, dn, "delete: oathSecret") == 50


def test_acl_host_reads_secrets_moves_counters_never_resets(e):
    h, pw, dn = fx.host_dn("host-c"), "host-c-secret", fx.token_dn("bob")
    _, out = search(e, h, pw, dn, ["oathSecret"])
    assert "oathSecret" in out, out
    assert modify(e, h, pw, dn, "replace: oathFailureCount\noathFailureCount: 0") == 0
    assert modify(e, h, pw, dn, "replace: oathLastFailure\noathLastFailure: 20260101000000Z") == 0
    for change in ("replace: pamTotpStatus\npamTotpStatus: reset",
                   "delete: oathSecret", "replace: oathSecret\noathSecret: x",
                   "replace: pamTotpGeneration\npamTotpGeneration: 99",
                   "replace: oathOTPLength\noathOTPLength: 8",
                   "delete: objectClass\nobjectClass: pamTotpToken"):
        assert modify(e, h, pw, dn, change) == 50, change
    r = e.s.tool("ldapdelete", h, pw, [dn])
    assert r.returncode == 50, r.stderr
    # nor point a person at another token
    assert modify(e, h, pw, fx.person_dn("bob"),
                  "replace: oathTOTPToken\noathTOTPToken: %s" % fx.token_dn("carol")) == 50


def test_acl_reset_identity_resets_and_unlocks_never_reads_a_secret(e):
    r, pw, dn = fx.RESET_DN, "resetd-secret", fx.token_dn("bob")
    _, out = search(e, r, pw, dn, ["oathSecret", "pamTotpStatus"])
    assert "oathSecret" not in out and "pamTotpStatus: enrolled" in out, out
    _, out = search(e, r, pw, dn, [], filt="(oathSecret=*)")
    assert "dn:" not in out, out
    c = e.s.tool("ldapcompare", r, pw, [dn, "oathSecret:: " + base64.b64encode(SECRET).decode()])
    assert c.returncode == 50, (c.returncode, c.stdout)
    assert modify(e, r, pw, dn, "replace: oathFailureCount\noathFailureCount: 0") == 0
    # may delete a secret, never set one
    assert modify(e, r, pw, fx.token_dn("alice"), "add: oathSecret\noathSecret: x") == 50


def test_acl_anonymous_gets_nothing(e):
    for base in (fx.SUFFIX, "ou=tokens," + fx.SUFFIX, fx.token_dn("alice"),
                 "ou=people," + fx.SUFFIX):
        _, out = search(e, None, None, base, [], scope="sub")
        assert "dn:" not in out, (base, out)
    assert modify(e, None, None, fx.token_dn("alice"),
                  "replace: oathFailureCount\noathFailureCount: 0") != 0


# --- slapo-otp interop -----------------------------------------------------------------

def whoami(e, who, pw):
    return e.s.tool("ldapwhoami", who, pw, []).returncode


def test_otp_bind_then_pam_totp_refuses_that_code(e):
    alice, pw = fx.person_dn("alice"), fx.PASSWORD["alice"]
    step = now_step()
    assert int(load(e.a, "alice")["last_step"]) < step
    assert whoami(e, alice, pw + oathtool(NEW_SECRET_B32, step)) == 0
    used = int(load(e.a, "alice")["last_step"])
    assert used >= step, used  # the overlay moved the one watermark
    assert driver(e.a, "accept", "alice", used)[0] == 3
    assert whoami(e, alice, pw + oathtool(NEW_SECRET_B32, used)) == 49  # and its own replay


def test_pam_totp_accept_then_otp_bind_refuses_that_code(e):
    alice, pw = fx.person_dn("alice"), fx.PASSWORD["alice"]
    step = int(load(e.a, "alice")["last_step"]) + 1
    assert driver(e.a, "accept", "alice", step)[0] == 0
    assert whoami(e, alice, pw + oathtool(NEW_SECRET_B32, step)) == 49
    assert whoami(e, alice, pw) == 49  # the password alone is not enough either
