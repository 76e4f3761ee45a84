/* The text form of a user's state file (libconfig syntax): written by hand into guarded
 * memory (the secret never passes through stdio buffers), parsed strictly with libconfig.
 *
 * libconfig (and flex under it, yy_scan_string) copies the text and every string in it and
 * frees those copies without wiping them, so the secret never reaches it: the writer keeps
 * `secret = "hex:HEX";` on a line of its own, and the parser, working in the caller's guarded
 * buffer, takes the value from that line and overwrites it in place with a placeholder of the
 * same length before libconfig sees the text. libconfig must then see exactly that placeholder
 * for `secret`, on that line; anything else is a corrupt file (secretline.c).
 *
 * The secret is hex, decoded by libsodium straight into locked memory. Earlier versions wrote
 * base32, which only liboath decodes here, and its decoder leaves an unwiped heap copy of the
 * text: such a file still loads (marked legacy_secret) and the next full store rewrites it in
 * hex. base32 has neither lower case nor ':', so "hex:" never starts an old value. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libconfig.h>
#include <sodium.h>

#include "fsutil.h"
#include "secretline.h"
#include "state.h"

#define TEXT_MAX MFA_STATE_MAX_SIZE
#define HEX_TAG "hex:"
#define HEX_TAG_LEN (sizeof(HEX_TAG) - 1)

static const char *const known_keys[] = {
	"version",   "status",	     "secret",	 "algorithm", "digits",	  "period",
	"last_step", "failures",     "locked_until", "enrolled_at", "reset_at", "reset_by",
	"epoch",     "recovery",     "user",
};

static void config_destroyp(config_t *c)
{
	config_destroy(c);
}

static int bad(struct mfa_err *reterr, const config_setting_t *s, const char *key,
	       const char *what)
{
	return mfa_err_set(reterr, -EBADMSG, s ? (unsigned)config_setting_source_line(s) : 0,
			   "%s: %s", key, what);
}

static int get_int64(const config_setting_t *root, const char *key, int64_t min, int64_t max,
		     int64_t *ret, struct mfa_err *reterr)
{
	const config_setting_t *s = config_setting_get_member(root, key);
	long long v;

	if (!s)
		return bad(reterr, NULL, key, "missing");
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return bad(reterr, s, key, "must be an integer");
	if (v < min || v > max)
		return bad(reterr, s, key, "out of range");
	*ret = v;
	return 0;
}

static int get_str(const config_setting_t *root, const char *key, const char **ret,
		   struct mfa_err *reterr)
{
	const config_setting_t *s = config_setting_get_member(root, key);

	if (!s)
		return bad(reterr, NULL, key, "missing");
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return bad(reterr, s, key, "must be a string");
	*ret = config_setting_get_string(s);
	return *ret ? 0 : bad(reterr, s, key, "must be a string");
}

static int check_keys(const config_setting_t *root, struct mfa_err *reterr)
{
	int n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		size_t k;

		for (k = 0; k < ELEMENTSOF(known_keys); k++)
			if (name && strcmp(name, known_keys[k]) == 0)
				break;
		if (k == ELEMENTSOF(known_keys))
			return bad(reterr, s, name ? name : "?", "unknown key");
	}
	return 0;
}

static int parse_recovery(const config_setting_t *root, struct mfa_state *st,
			  struct mfa_err *reterr)
{
	const config_setting_t *s = config_setting_get_member(root, "recovery");
	int n;

	if (!s)
		return bad(reterr, NULL, "recovery", "missing");
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return bad(reterr, s, "recovery", "must be a list");
	n = config_setting_length(s);
	if (n > MFA_RECOVERY_MAX)
		return bad(reterr, s, "recovery", "too many codes");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *h = config_setting_get_string(e);
		if (!h || strlen(h) != MFA_RECOVERY_HASH_LEN - 1 ||
		    h[32] != '$' || strspn(h, "0123456789abcdef$") != MFA_RECOVERY_HASH_LEN - 1)
			return bad(reterr, e, "recovery", "malformed hash");
		memcpy(st->recovery[i], h, MFA_RECOVERY_HASH_LEN);
	}
	st->n_recovery = (unsigned)n;
	return 0;
}

/* The optional name of the user the file belongs to (written for names whose file name is a
 * hash, see mfa_user_to_filename): a valid user name. */
static int parse_user(const config_setting_t *root, struct mfa_state *st, struct mfa_err *reterr)
{
	const config_setting_t *s = config_setting_get_member(root, "user");
	const char *u;

	if (!s)
		return 0;
	if (get_str(root, "user", &u, reterr) < 0 || mfa_user_validate(u) < 0)
		return bad(reterr, s, "user", "must be a valid user name");
	memcpy(st->user, u, strlen(u) + 1);
	return 0;
}

static int parse_header(const config_setting_t *root, struct mfa_state *st,
			struct mfa_err *reterr)
{
	const char *status = NULL, *algo = NULL, *by = NULL;
	int64_t v;
	int r;

	if ((r = get_int64(root, "version", 0, INT32_MAX, &v, reterr)) < 0)
		return r;
	if (v != MFA_STATE_VERSION)
		return bad(reterr, config_setting_get_member(root, "version"), "version",
			   "unknown version");
	if ((r = get_str(root, "status", &status, reterr)) < 0)
		return r;
	if (strcmp(status, "enrolled") == 0)
		st->status = MFA_STATUS_ENROLLED;
	else if (strcmp(status, "reset") == 0)
		st->status = MFA_STATUS_RESET;
	else
		return bad(reterr, config_setting_get_member(root, "status"), "status",
			   "must be \"enrolled\" or \"reset\"");
	if ((r = get_str(root, "algorithm", &algo, reterr)) < 0)
		return r;
	if (mfa_algo_from_string(algo, &st->algorithm) < 0)
		return bad(reterr, config_setting_get_member(root, "algorithm"), "algorithm",
			   "unknown algorithm");
	/* reset_by is what NSS called the administrator, shown to people, never a path: any
	 * bytes ('john smith', quotes, UTF-8; control bytes come back from the writer's \xHH),
	 * bounded. Refusing a name here locked the reset user out. */
	if ((r = get_str(root, "reset_by", &by, reterr)) < 0)
		return r;
	if (strlen(by) >= sizeof(st->reset_by))
		return bad(reterr, config_setting_get_member(root, "reset_by"), "reset_by",
			   "too long");
	memcpy(st->reset_by, by, strlen(by) + 1);
	return parse_user(root, st, reterr);
}

static int parse_numbers(const config_setting_t *root, struct mfa_state *st,
			 struct mfa_err *reterr)
{
	int64_t digits, period, failures, epoch;
	int r;

	if ((r = get_int64(root, "digits", 6, 8, &digits, reterr)) < 0 ||
	    (r = get_int64(root, "period", 1, 3600, &period, reterr)) < 0 ||
	    (r = get_int64(root, "last_step", -1, INT64_MAX, &st->last_step, reterr)) < 0 ||
	    (r = get_int64(root, "failures", 0, UINT32_MAX, &failures, reterr)) < 0 ||
	    (r = get_int64(root, "locked_until", 0, INT64_MAX, &st->locked_until, reterr)) < 0 ||
	    (r = get_int64(root, "enrolled_at", 0, INT64_MAX, &st->enrolled_at, reterr)) < 0 ||
	    (r = get_int64(root, "reset_at", 0, INT64_MAX, &st->reset_at, reterr)) < 0 ||
	    (r = get_int64(root, "epoch", INT64_MIN, INT64_MAX, &epoch, reterr)) < 0)
		return r;
	st->digits = (unsigned)digits;
	st->period = (unsigned)period;
	st->failures = (unsigned)failures;
	st->epoch = (uint64_t)epoch;
	return 0;
}

static int parse_secret(const config_setting_t *root, const struct mfa_secret_line *sl,
			struct mfa_state *st, struct mfa_err *reterr)
{
	const config_setting_t *s = config_setting_get_member(root, "secret");
	const char *v = NULL;
	int r;

	if ((r = get_str(root, "secret", &v, reterr)) < 0)
		return r;
	if ((unsigned)config_setting_source_line(s) != sl->line ||
	    !mfa_secret_line_is_placeholder(sl, v))
		return bad(reterr, s, "secret", "not the value of the secret line");
	if (st->status == MFA_STATUS_RESET) {
		if (sl->len)
			return bad(reterr, s, "secret", "must be empty after a reset");
		return 0;
	}
	if (sl->len >= HEX_TAG_LEN && memcmp(sl->value, HEX_TAG, HEX_TAG_LEN) == 0) {
		if (mfa_secret_from_hex(sl->value + HEX_TAG_LEN, sl->len - HEX_TAG_LEN,
					&st->secret) < 0)
			return bad(reterr, s, "secret", "not a valid hex secret");
		return 0;
	}
	if (mfa_secret_from_base32(sl->value, &st->secret) < 0)
		return bad(reterr, s, "secret", "not a valid secret");
	st->legacy_secret = true;
	return 0;
}

int mfa_state_parse_n(char *text, size_t len, struct mfa_state *ret_state,
		      struct mfa_err *reterr)
{
	_cleanup_(config_destroyp) config_t lc;
	_cleanup_(mfa_secret_line_clear) struct mfa_secret_line sl = { 0 };
	struct mfa_state st = { 0 };
	const config_setting_t *root;
	unsigned nul;
	int r;

	config_init(&lc);
	if ((nul = mfa_fs_nul_line(text, len)) != 0)
		return mfa_err_set(reterr, -EBADMSG, nul, "file: NUL byte");
	if ((r = mfa_secret_line_take(text, len, &sl, reterr)) < 0 ||
	    (r = mfa_libconfig_read(&lc, text, len, -EBADMSG, reterr)) < 0)
		return r;
	root = config_root_setting(&lc);
	if ((r = check_keys(root, reterr)) < 0 || (r = parse_header(root, &st, reterr)) < 0 ||
	    (r = parse_numbers(root, &st, reterr)) < 0 ||
	    (r = parse_recovery(root, &st, reterr)) < 0 ||
	    (r = parse_secret(root, &sl, &st, reterr)) < 0) {
		mfa_state_clear(&st);
		return r;
	}
	*ret_state = st;
	return 0;
}

int mfa_state_parse(const char *text, struct mfa_state *ret_state, struct mfa_err *reterr)
{
	size_t len = strlen(text);
	char *copy = mfa_sodium_malloc(len + 1);
	int r;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len + 1);
	r = mfa_state_parse_n(copy, len, ret_state, reterr);
	sodium_free(copy);
	return r;
}

struct text {
	char *buf;
	size_t len;
	int r;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->r < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, TEXT_MAX - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= TEXT_MAX - t->len)
		t->r = -ENOBUFS;
	else
		t->len += (size_t)n;
}

/* A libconfig string literal that libconfig reads back byte for byte: '\' and '"' escaped
 * (names may hold both), control bytes as \xHH, the rest (UTF-8 included) as is. */
static void add_quoted(struct text *t, const char *s)
{
	add(t, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			add(t, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			add(t, "\\x%02x", c);
		else
			add(t, "%c", c);
	}
	add(t, "\"");
}

static void add_secret(struct text *t, const struct mfa_state *st)
{
	char hex[MFA_SECRET_HEX_MAX] = "";

	if (st->status != MFA_STATUS_ENROLLED) {
		add(t, "secret = \"\";\n");
		return;
	}
	if ((t->r = st->secret ? mfa_secret_to_hex(st->secret, hex, sizeof(hex)) : -EINVAL) < 0)
		return;
	/* on a line of its own: see the top of the file */
	add(t, "secret = \"" HEX_TAG "%s\";\n", hex);
	sodium_memzero(hex, sizeof(hex));
}

int mfa_state_format(const struct mfa_state *st, char **ret_text, size_t *ret_len)
{
	struct text t = { .buf = mfa_sodium_malloc(TEXT_MAX) };

	if (!t.buf)
		return -ENOMEM;
	add(&t, "# pam_totp state: written by pam_totp and mfa-resetd, do not edit\n");
	add(&t, "version = %d;\nstatus = \"%s\";\n", MFA_STATE_VERSION,
	    st->status == MFA_STATUS_ENROLLED ? "enrolled" : "reset");
	add_secret(&t, st);
	add(&t, "algorithm = \"%s\";\ndigits = %u;\nperiod = %u;\n",
	    mfa_algo_to_string(st->algorithm), st->digits, st->period);
	add(&t, "last_step = %" PRId64 "L;\nfailures = %u;\nlocked_until = %" PRId64 "L;\n",
	    st->last_step, st->failures, st->locked_until);
	add(&t, "enrolled_at = %" PRId64 "L;\nreset_at = %" PRId64 "L;\nreset_by = ",
	    st->enrolled_at, st->reset_at);
	add_quoted(&t, st->reset_by);
	add(&t, ";\nepoch = %" PRId64 "L;\nrecovery = [", (int64_t)st->epoch);
	for (unsigned i = 0; i < st->n_recovery && i < MFA_RECOVERY_MAX; i++)
		add(&t, "%s\"%s\"", i ? ", " : " ", st->recovery[i]);
	add(&t, " ];\n");
	if (st->user[0]) {
		add(&t, "user = ");
		add_quoted(&t, st->user);
		add(&t, ";\n");
	}
	if (t.r < 0) {
		sodium_free(t.buf);
		return t.r;
	}
	*ret_text = t.buf;
	*ret_len = t.len;
	return 0;
}
