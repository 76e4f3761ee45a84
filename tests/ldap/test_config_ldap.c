/* config_ldap.c: the store key and the ldap group: defaults, a full group, and each invalid
 * input refused with the line and key named (the same strictness as config.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static void test_ldap_defaults(void **state)
{
	struct mfa_config c;

	(void)state;
	assert_int_equal(mfa_config_parse("", &c, NULL), 0);
	assert_int_equal(c.store, MFA_STORE_FILES);
	assert_string_equal(c.ldap.uri, "ldapi:///");
	assert_int_equal(c.ldap.bind, MFA_LDAP_BIND_SASL_EXTERNAL);
	assert_string_equal(c.ldap.bind_dn, "");
	assert_string_equal(c.ldap.bind_password_file, "/etc/pam_totp.ldap-password");
	assert_string_equal(c.ldap.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(c.ldap.cert_file, "");
	assert_string_equal(c.ldap.key_file, "");
	assert_string_equal(c.ldap.person_base, "");
	assert_string_equal(c.ldap.person_filter, "(&(objectClass=posixAccount)(uid=%s))");
	assert_string_equal(c.ldap.token_base, "");
	assert_int_equal(c.ldap.timeout_ms, 3000);
	assert_false(c.ldap.allow_plain_simple_bind);
	assert_int_equal(c.ldap.reset_bind, MFA_LDAP_BIND_SASL_EXTERNAL);
	assert_string_equal(c.ldap.reset_bind_dn, "");
	assert_string_equal(c.ldap.reset_bind_password_file, "/etc/pam_totp.ldap-reset-password");
	assert_string_equal(c.ldap.reset_cert_file, "");
	assert_string_equal(c.ldap.reset_key_file, "");
	mfa_config_free(&c);
}

static void test_ldap_full_group_parses(void **state)
{
	const char *text = "issuer = \"X\";\n"
			   "store = \"ldap\";\n"
			   "ldap = {\n"
			   "  uri = \"ldaps://10.0.0.1 ldaps://10.0.0.2\";\n"
			   "  bind = \"simple\";\n"
			   "  bind_dn = \"cn=web1,ou=hosts,dc=example,dc=com\";\n"
			   "  bind_password_file = \"/etc/x.pw\";\n"
			   "  ca_file = \"/etc/ca.pem\";\n"
			   "  person_base = \"ou=people,dc=example,dc=com\";\n"
			   "  person_filter = \"(&(objectClass=inetOrgPerson)(uid=%s))\";\n"
			   "  token_base = \"ou=tokens,dc=example,dc=com\";\n"
			   "  timeout_ms = 1500;\n"
			   "  allow_plain_simple_bind = true;\n"
			   "  reset_bind = \"simple\";\n"
			   "  reset_bind_dn = \"cn=resetd,ou=mfa-reset,dc=example,dc=com\";\n"
			   "  reset_bind_password_file = \"/etc/r.pw\";\n"
			   "};\n"
			   "lockout = { max_failures = 3; };\n";
	struct mfa_config c;

	(void)state;
	assert_int_equal(mfa_config_parse(text, &c, NULL), 0);
	assert_int_equal(c.store, MFA_STORE_LDAP);
	assert_int_equal(c.ldap.bind, MFA_LDAP_BIND_SIMPLE);
	assert_string_equal(c.ldap.uri, "ldaps://10.0.0.1 ldaps://10.0.0.2");
	assert_string_equal(c.ldap.person_filter, "(&(objectClass=inetOrgPerson)(uid=%s))");
	assert_int_equal(c.ldap.timeout_ms, 1500);
	assert_true(c.ldap.allow_plain_simple_bind);
	assert_int_equal(c.ldap.reset_bind, MFA_LDAP_BIND_SIMPLE);
	assert_string_equal(c.ldap.reset_bind_dn, "cn=resetd,ou=mfa-reset,dc=example,dc=com");
	assert_string_equal(c.ldap.reset_bind_password_file, "/etc/r.pw");
	assert_int_equal(c.lockout.max_failures, 3); /* the rest of the file still read */
	mfa_config_free(&c);
}

/* Each case: the text, the line and the start of the message it must be refused with. */
static const struct bad {
	const char *text;
	unsigned line;
	const char *msg;
} bad_cases[] = {
	{ "store = \"nfs\";", 1, "store: must be" },
	{ "store = 1;", 1, "store: must be" },
	{ "\nldap = { colour = \"x\"; };", 2, "ldap.colour: unknown key" },
	{ "ldap = 3;", 1, "ldap: must be a group" },
	{ "ldap = {\n bind = \"kerberos\"; };", 2, "ldap.bind: must be" },
	{ "ldap = {\n\n timeout_ms = 50; };", 3, "ldap.timeout_ms: must be 100 to 60000" },
	{ "ldap = { timeout_ms = \"3s\"; };", 1, "ldap.timeout_ms: must be an integer" },
	{ "ldap = { ca_file = \"relative.pem\"; };", 1, "ldap.ca_file: must be an absolute" },
	{ "ldap = { person_filter = \"(uid=%s)(cn=%s)\"; };", 1, "ldap.person_filter" },
	{ "ldap = { person_filter = \"uid=%s\"; };", 1, "ldap.person_filter" },
	{ "ldap = { person_filter = \"(uid=x)\"; };", 1, "ldap.person_filter" },
	{ "ldap = { allow_plain_simple_bind = 1; };", 1, "ldap.allow_plain_simple_bind" },
	{ "ldap = { bind_dn = \"cn=a\\nb\"; };", 1, "ldap.bind_dn: must be printable" },
	{ "store = \"ldap\";", 0, "ldap: person_base and token_base are required" },
	{ "store = \"ldap\";\nldap = { person_base = \"ou=p\"; token_base = \"ou=t\";\n"
	  "bind = \"simple\"; };",
	  2, "ldap.bind_dn: required" },
	{ "store = \"ldap\";\nldap = { person_base = \"ou=p\"; token_base = \"ou=t\";\n"
	  "cert_file = \"/c.pem\"; };",
	  2, "ldap: cert_file and key_file" },
	{ "store = \"ldap\";\nldap = { person_base = \"ou=p\"; token_base = \"ou=t\";\n"
	  "reset_bind = \"simple\"; };",
	  2, "ldap.reset_bind_dn: required" },
	{ "ldap = { reset_bind_password_file = \"r.pw\"; };", 1,
	  "ldap.reset_bind_password_file: must be an absolute" },
};

static void test_ldap_invalid_values_name_line_and_key(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct mfa_config c;
		struct mfa_err e = { 0 };

		assert_int_equal(mfa_config_parse(bad_cases[i].text, &c, &e), -EINVAL);
		if (strncmp(e.msg, bad_cases[i].msg, strlen(bad_cases[i].msg)) != 0 ||
		    e.line != bad_cases[i].line)
			fail_msg("case %zu: got line %u \"%s\"", i, e.line, e.msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ldap_defaults),
		cmocka_unit_test(test_ldap_full_group_parses),
		cmocka_unit_test(test_ldap_invalid_values_name_line_and_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
