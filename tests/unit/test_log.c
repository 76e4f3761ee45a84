/* log.c: event lines carry only typed fields; bad names never reach the log verbatim. */
#include <errno.h>

#include "log.h"
#include "unit.h"

static void test_full_event_line(void **state)
{
	char buf[512];
	struct mfa_event ev = mfa_event_new("reset");

	(void)state;
	ev.actor = "bob";
	ev.uid = 1002;
	ev.target = "DOM\\alice";
	ev.result = "ok";
	ev.count = 3;
	mfa_log_format(&ev, buf, sizeof(buf));
	assert_string_equal(buf, "event=reset actor='bob' uid=1002 target='DOM\\\\alice' result=ok count=3");
}

static void test_verify_event_with_failures_and_error(void **state)
{
	char buf[512];
	struct mfa_event ev = mfa_event_new("verify");

	(void)state;
	ev.user = "alice";
	ev.result = "fail";
	ev.reason = "wrong-code";
	ev.failures = 2;
	ev.until = 1700000300;
	ev.error = -EPERM;
	mfa_log_format(&ev, buf, sizeof(buf));
	assert_string_equal(buf, "event=verify user='alice' result=fail reason=wrong-code failures=2 "
				 "until=1700000300 until_utc=2023-11-14T22:18:20Z "
				 "error='Operation not permitted'");
}

static void test_invalid_name_is_not_printed(void **state)
{
	char buf[512];
	/* What a user typed at a login prompt may be a password: never log it verbatim. */
	struct mfa_event ev = mfa_event_new("auth");

	(void)state;
	ev.user = "hunter2 secret\n";
	ev.result = "refused";
	mfa_log_format(&ev, buf, sizeof(buf));
	assert_string_equal(buf, "event=auth user=(invalid) result=refused");
	assert_null(strstr(buf, "hunter2"));
}

static void test_quote_in_name_is_escaped(void **state)
{
	char buf[512];
	struct mfa_event ev = mfa_event_new("enroll");

	(void)state;
	ev.user = "o'brien";
	mfa_log_format(&ev, buf, sizeof(buf));
	assert_string_equal(buf, "event=enroll user='o\\'brien'");
}

/* Every byte of a name that is not printable ASCII is escaped: no terminal escape, no
 * forged field, one ASCII line whatever NSS returns. */
static void test_non_ascii_and_control_bytes_escaped(void **state)
{
	char buf[512];
	struct mfa_event ev = mfa_event_new("reset");

	(void)state;
	ev.actor = "john smith\x1b[2J";
	ev.uid = 2040;
	ev.target = "\xd0\x90nna";
	ev.group = "ops\nevent=fake";
	ev.result = "refused";
	ev.reason = "not-admin";
	ev.more = 3;
	mfa_log_format(&ev, buf, sizeof(buf));
	assert_string_equal(buf, "event=reset actor='john\\x20smith\\x1b[2J' uid=2040 "
				 "target='\\xd0\\x90nna' group='ops\\x0aevent=fake' "
				 "result=refused reason=not-admin more=3");
}

static void test_truncation_keeps_nul(void **state)
{
	char buf[16];
	struct mfa_event ev = mfa_event_new("verify");
	size_t n;

	(void)state;
	ev.user = "alice";
	ev.result = "ok";
	memset(buf, 'x', sizeof(buf));
	n = mfa_log_format(&ev, buf, sizeof(buf));
	assert_true(n < sizeof(buf));
	assert_int_equal(strlen(buf), n);
	assert_int_equal(strncmp(buf, "event=verify", 12), 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_full_event_line),
	cmocka_unit_test(test_verify_event_with_failures_and_error),
	cmocka_unit_test(test_invalid_name_is_not_printed),
	cmocka_unit_test(test_quote_in_name_is_escaped),
	cmocka_unit_test(test_non_ascii_and_control_bytes_escaped),
	cmocka_unit_test(test_truncation_keeps_nul),
};

MFA_UNIT_MAIN(tests)
