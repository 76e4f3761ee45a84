/* The mfa-resetd wire protocol: request parser and writer, reply splitter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static const char *const verbs[_MFA_VERB_MAX] = {
	[MFA_VERB_RESET] = "RESET",
	[MFA_VERB_RESET_GROUP] = "RESET-GROUP",
	[MFA_VERB_PLAN_GROUP] = "PLAN-GROUP",
	[MFA_VERB_STATUS] = "STATUS",
	[MFA_VERB_LIST] = "LIST",
	[MFA_VERB_UNLOCK] = "UNLOCK",
	[MFA_VERB_PLAN] = "PLAN",
};

const char *mfa_verb_to_string(enum mfa_verb v)
{
	if ((unsigned)v >= _MFA_VERB_MAX)
		return NULL;
	return verbs[v];
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int mfa_proto_arg_ok(const char *arg)
{
	if (!arg || !*arg)
		return 0;
	for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
		if (*p == ' ' || is_ctl(*p))
			return 0;
	return 1;
}

void mfa_request_free(struct mfa_request *r)
{
	if (!r)
		return;
	free(r->args);
	free(r->buf);
	r->args = NULL;
	r->buf = NULL;
	r->n_args = 0;
}

static int parse_verb(const char *s, enum mfa_verb *ret)
{
	for (unsigned i = 0; i < _MFA_VERB_MAX; i++)
		if (strcmp(s, verbs[i]) == 0) {
			*ret = (enum mfa_verb)i;
			return 0;
		}
	return -EBADMSG;
}

/* Splits buf (NUL-terminated, no control bytes) at single spaces into v (room for max). */
static int split(char *buf, char **v, size_t max, size_t *ret_n, struct mfa_err *reterr)
{
	size_t n = 0;
	char *p = buf;

	for (;;) {
		char *sp = strchr(p, ' ');

		if (sp)
			*sp = '\0';
		if (!*p)
			return mfa_err_set(reterr, -EBADMSG, 0, "empty field");
		if (n >= max)
			return mfa_err_set(reterr, -E2BIG, 0, "more than %u arguments",
					   MFA_PROTO_ARGS_MAX);
		v[n++] = p;
		if (!sp)
			break;
		p = sp + 1;
	}
	*ret_n = n;
	return 0;
}

static int check_line(const char *line, size_t len, struct mfa_err *reterr)
{
	if (len > MFA_PROTO_LINE_MAX)
		return mfa_err_set(reterr, -EMSGSIZE, 0, "line longer than %u bytes",
				   MFA_PROTO_LINE_MAX);
	for (size_t i = 0; i < len; i++)
		if (is_ctl((unsigned char)line[i]))
			return mfa_err_set(reterr, -EBADMSG, 0, "control byte at offset %zu", i);
	if (len < 3 || memcmp(line, "MFA", 3) != 0)
		return mfa_err_set(reterr, -EBADMSG, 0, "not a request");
	if (len == 4 && memcmp(line, MFA_PROTO_MAGIC, 4) == 0)
		return mfa_err_set(reterr, -EBADMSG, 0, "no verb");
	if (len < 5 || memcmp(line, MFA_PROTO_MAGIC " ", 5) != 0)
		return mfa_err_set(reterr, -EPROTONOSUPPORT, 0, "unsupported protocol version");
	return 0;
}

int mfa_proto_parse_request(const char *line, size_t len, struct mfa_request *ret,
			    struct mfa_err *reterr)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ char **v = NULL;
	size_t n = 0;
	enum mfa_verb verb;
	int r;

	if ((r = check_line(line, len, reterr)) < 0)
		return r;
	buf = strndup(line + 5, len - 5);
	/* + 2: the verb, and one more so "too many" is detected rather than truncated */
	v = calloc(MFA_PROTO_ARGS_MAX + 2, sizeof(char *));
	if (!buf || !v)
		return -ENOMEM;
	if ((r = split(buf, v, MFA_PROTO_ARGS_MAX + 1, &n, reterr)) < 0)
		return r;
	if (parse_verb(v[0], &verb) < 0)
		return mfa_err_set(reterr, -EBADMSG, 0, "unknown verb");
	if (verb == MFA_VERB_LIST && n != 1)
		return mfa_err_set(reterr, -EBADMSG, 0, "LIST takes no arguments");
	if (verb != MFA_VERB_LIST && n < 2)
		return mfa_err_set(reterr, -EBADMSG, 0, "%s needs at least one argument",
				   verbs[verb]);
	memmove(v, v + 1, (n - 1) * sizeof(char *));
	v[n - 1] = NULL;
	*ret = (struct mfa_request){
		.verb = verb,
		.n_args = n - 1,
		.args = TAKE_PTR(v),
		.buf = TAKE_PTR(buf),
	};
	return 0;
}

int mfa_proto_write_request(FILE *f, enum mfa_verb v, char *const *args, size_t n)
{
	size_t len = strlen(MFA_PROTO_MAGIC) + 1;
	const char *vs = mfa_verb_to_string(v);

	if (!vs || n > MFA_PROTO_ARGS_MAX)
		return -E2BIG;
	len += strlen(vs);
	for (size_t i = 0; i < n; i++) {
		if (!mfa_proto_arg_ok(args[i]))
			return -EINVAL;
		len += 1 + strlen(args[i]);
	}
	if (len > MFA_PROTO_LINE_MAX)
		return -E2BIG;
	fputs(MFA_PROTO_MAGIC " ", f);
	fputs(vs, f);
	for (size_t i = 0; i < n; i++) {
		fputc(' ', f);
		fputs(args[i], f);
	}
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

bool mfa_reply_is_final(enum mfa_reply_kind k)
{
	return k == MFA_REPLY_END || k == MFA_REPLY_DENIED || k == MFA_REPLY_ERROR;
}

/* Cuts the next space-separated word off *p; NULL when none. */
static char *word(char **p)
{
	char *w = *p, *sp;

	if (!w || !*w)
		return NULL;
	sp = strchr(w, ' ');
	if (sp) {
		*sp = '\0';
		*p = sp + 1;
	} else
		*p = NULL;
	return w;
}

static int parse_end(char *p, struct mfa_reply *ret)
{
	if (!p || sscanf(p, "ok=%lu failed=%lu", &ret->n_ok, &ret->n_failed) != 2)
		return -EBADMSG;
	return 0;
}

int mfa_proto_parse_reply(char *line, struct mfa_reply *ret)
{
	static const char *const kinds[] = { "ok", "err", "status", "member",
					     "end", "denied", "error" };
	struct mfa_reply rep = { 0 };
	char *p = line, *k = word(&p);
	unsigned i;

	if (!k)
		return -EBADMSG;
	for (i = 0; i < ELEMENTSOF(kinds); i++)
		if (strcmp(k, kinds[i]) == 0)
			break;
	if (i == ELEMENTSOF(kinds))
		return -EBADMSG;
	rep.kind = (enum mfa_reply_kind)i;
	if (rep.kind == MFA_REPLY_END) {
		if (parse_end(p, &rep) < 0)
			return -EBADMSG;
	} else if (rep.kind == MFA_REPLY_DENIED || rep.kind == MFA_REPLY_ERROR) {
		rep.code = word(&p);
		rep.rest = p ? p : "";
	} else {
		rep.user = word(&p);
		if (!rep.user)
			return -EBADMSG;
		if (rep.kind == MFA_REPLY_OK || rep.kind == MFA_REPLY_ERR)
			rep.code = word(&p);
		rep.rest = p ? p : "";
		if ((rep.kind == MFA_REPLY_OK || rep.kind == MFA_REPLY_ERR) && !rep.code)
			return -EBADMSG;
	}
	*ret = rep;
	return 0;
}
