/* The mfa-resetd protocol codec: request parsing (every error class), the writer's round
 * trip, and reply splitting. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/unit.h"
#include "protocol.h"

static int parse(const char *s, struct mfa_request *req)
{
	struct mfa_err err = { 0 };

	return mfa_proto_parse_request(s, strlen(s), req, &err);
}

static void test_parse_verbs(void **state)
{
	static const char *const lines[] = { "MFA1 RESET alice bob", "MFA1 RESET-GROUP g",
					     "MFA1 PLAN-GROUP g h", "MFA1 STATUS alice",
					     "MFA1 LIST", "MFA1 UNLOCK DOM\\bob",
					     "MFA1 PLAN alice bob carol" };
	static const size_t nargs[] = { 2, 1, 2, 1, 0, 1, 3 };

	for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
		struct mfa_request req = { 0 };

		assert_int_equal(parse(lines[i], &req), 0);
		assert_int_equal(req.verb, (enum mfa_verb)i);
		assert_int_equal(req.n_args, nargs[i]);
		mfa_request_free(&req);
	}
}

static void test_parse_args(void **state)
{
	struct mfa_request req = { 0 };

	assert_int_equal(parse("MFA1 RESET alice bob@EXAMPLE.COM", &req), 0);
	assert_string_equal(req.args[0], "alice");
	assert_string_equal(req.args[1], "bob@EXAMPLE.COM");
	mfa_request_free(&req);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad[] = { "", "HELLO", "MFA1", "MFA1 ", "MFA1 FROB x",
					   "MFA1 RESET", "MFA1 RESET ", "MFA1 RESET  a",
					   "MFA1 RESET a ", "MFA1 LIST x", "mfa1 LIST",
					   "MFA1 RESET a\tb", "MFA1 RESET a\rb", "MFA1 RESET a\x7f" };
	struct mfa_request req = { 0 };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(parse(bad[i], &req), -EBADMSG);
	assert_int_equal(mfa_proto_parse_request("MFA1 RESET a\0b", 14, &req, NULL), -EBADMSG);
	assert_null(req.args);
}

static void test_parse_version(void **state)
{
	struct mfa_request req = { 0 };

	assert_int_equal(parse("MFA2 LIST", &req), -EPROTONOSUPPORT);
	assert_int_equal(parse("MFA1X LIST", &req), -EPROTONOSUPPORT);
}

static void test_parse_limits(void **state)
{
	size_t cap = MFA_PROTO_LINE_MAX + 16;
	char *line = malloc(cap);
	struct mfa_request req = { 0 };
	size_t len = (size_t)snprintf(line, cap, "MFA1 STATUS");

	assert_non_null(line);
	for (unsigned i = 0; i < MFA_PROTO_ARGS_MAX; i++)
		len += (size_t)snprintf(line + len, cap - len, " u%u", i);
	assert_int_equal(mfa_proto_parse_request(line, len, &req, NULL), 0);
	assert_int_equal(req.n_args, MFA_PROTO_ARGS_MAX);
	mfa_request_free(&req);
	len += (size_t)snprintf(line + len, cap - len, " one-more");
	assert_int_equal(mfa_proto_parse_request(line, len, &req, NULL), -E2BIG);
	memset(line, 'a', cap);
	memcpy(line, "MFA1 RESET ", 11);
	assert_int_equal(mfa_proto_parse_request(line, MFA_PROTO_LINE_MAX + 1, &req, NULL),
			 -EMSGSIZE);
	free(line);
}

static void test_write_roundtrip(void **state)
{
	char *const args[] = { (char *)(uintptr_t) "alice", (char *)(uintptr_t) "DOM\\bob" };
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	struct mfa_request req = { 0 };

	assert_non_null(f);
	assert_int_equal(mfa_proto_write_request(f, MFA_VERB_UNLOCK, args, 2), 0);
	fclose(f);
	assert_string_equal(buf, "MFA1 UNLOCK alice DOM\\bob\n");
	assert_int_equal(mfa_proto_parse_request(buf, size - 1, &req, NULL), 0);
	assert_int_equal(req.verb, MFA_VERB_UNLOCK);
	assert_string_equal(req.args[1], "DOM\\bob");
	mfa_request_free(&req);
	free(buf);
}

static void test_write_refuses(void **state)
{
	char *const spaced[] = { (char *)(uintptr_t) "a b" };
	char *const empty[] = { (char *)(uintptr_t) "" };
	FILE *f = fopen("/dev/null", "w");

	assert_non_null(f);
	assert_int_equal(mfa_proto_write_request(f, MFA_VERB_RESET, spaced, 1), -EINVAL);
	assert_int_equal(mfa_proto_write_request(f, MFA_VERB_RESET, empty, 1), -EINVAL);
	assert_int_equal(mfa_proto_write_request(f, MFA_VERB_RESET, spaced,
						 MFA_PROTO_ARGS_MAX + 1), -E2BIG);
	fclose(f);
}

static void test_reply_parse(void **state)
{
	char ok[] = "ok alice reset", err[] = "err bob unknown-user no such user";
	char end[] = "end ok=3 failed=1", den[] = "denied not-authorized go away";
	char st[] = "status carol status=none failures=0", bad[] = "hello world";
	char badend[] = "end ok=x", nouser[] = "ok";
	struct mfa_reply r;

	assert_int_equal(mfa_proto_parse_reply(ok, &r), 0);
	assert_int_equal(r.kind, MFA_REPLY_OK);
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.code, "reset");
	assert_int_equal(mfa_proto_parse_reply(err, &r), 0);
	assert_string_equal(r.code, "unknown-user");
	assert_string_equal(r.rest, "no such user");
	assert_int_equal(mfa_proto_parse_reply(end, &r), 0);
	assert_true(mfa_reply_is_final(r.kind));
	assert_int_equal(r.n_ok, 3);
	assert_int_equal(r.n_failed, 1);
	assert_int_equal(mfa_proto_parse_reply(den, &r), 0);
	assert_int_equal(r.kind, MFA_REPLY_DENIED);
	assert_string_equal(r.code, "not-authorized");
	assert_int_equal(mfa_proto_parse_reply(st, &r), 0);
	assert_false(mfa_reply_is_final(r.kind));
	assert_string_equal(r.rest, "status=none failures=0");
	assert_int_equal(mfa_proto_parse_reply(bad, &r), -EBADMSG);
	assert_int_equal(mfa_proto_parse_reply(badend, &r), -EBADMSG);
	assert_int_equal(mfa_proto_parse_reply(nouser, &r), -EBADMSG);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_parse_verbs),
	cmocka_unit_test(test_parse_args),
	cmocka_unit_test(test_parse_malformed),
	cmocka_unit_test(test_parse_version),
	cmocka_unit_test(test_parse_limits),
	cmocka_unit_test(test_write_roundtrip),
	cmocka_unit_test(test_write_refuses),
	cmocka_unit_test(test_reply_parse),
};

MFA_UNIT_MAIN(tests)
