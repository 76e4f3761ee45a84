/* The mfa-resetd wire protocol, shared by the daemon, the client and the fuzzer.
 *
 * One request per line: "MFA1 VERB [ARG ...]\n", arguments separated by one space.
 * Replies: one line per target, then exactly one final line:
 *   ok USER WHAT | err USER CODE MESSAGE | status USER key=value... | member USER
 *   end ok=N failed=M | denied CODE MESSAGE | error CODE MESSAGE
 * man/mfa-resetd.8 holds the grammar. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "macro.h"

#define MFA_PROTO_MAGIC "MFA1"
#define MFA_PROTO_LINE_MAX (64 * 1024) /* bytes, without the newline */
#define MFA_PROTO_ARGS_MAX 1024        /* users (or groups) per request */

enum mfa_verb {
	MFA_VERB_RESET,
	MFA_VERB_RESET_GROUP,
	MFA_VERB_PLAN_GROUP,
	MFA_VERB_STATUS,
	MFA_VERB_LIST,
	MFA_VERB_UNLOCK,
	MFA_VERB_PLAN, /* the verdict per user, nothing changed: the dry run */
	_MFA_VERB_MAX,
};

struct mfa_request {
	enum mfa_verb verb;
	size_t n_args;
	char **args; /* point into buf */
	char *buf;
};

/* Parses one request line (len bytes, without the trailing newline; NULs allowed in the input
 * and refused). 0 and *ret filled (free with mfa_request_free()); -EBADMSG malformed,
 * -EPROTONOSUPPORT other protocol version, -EMSGSIZE line too long, -E2BIG too many
 * arguments, -ENOMEM. reterr, which may be NULL, says what was wrong. Argument names are
 * not validated here: an invalid name is a per-target error of the daemon. */
int mfa_proto_parse_request(const char *line, size_t len, struct mfa_request *ret,
			    struct mfa_err *reterr);
void mfa_request_free(struct mfa_request *r);

const char *mfa_verb_to_string(enum mfa_verb v);

/* 1 if arg can travel as one argument (non-empty, no space or control byte), else 0. */
int mfa_proto_arg_ok(const char *arg);

/* Writes "MFA1 VERB ARG...\n" to f (not flushed). -EINVAL for an argument that cannot travel,
 * -E2BIG for more than MFA_PROTO_ARGS_MAX arguments or a line over MFA_PROTO_LINE_MAX. */
int mfa_proto_write_request(FILE *f, enum mfa_verb v, char *const *args, size_t n);

enum mfa_reply_kind {
	MFA_REPLY_OK,
	MFA_REPLY_ERR,
	MFA_REPLY_STATUS,
	MFA_REPLY_MEMBER,
	MFA_REPLY_END,
	MFA_REPLY_DENIED,
	MFA_REPLY_ERROR,
};

/* A reply line split in place: line is modified, fields point into it. */
struct mfa_reply {
	enum mfa_reply_kind kind;
	const char *user; /* ok, err, status, member */
	const char *code; /* err, denied, error; ok: what was done */
	const char *rest; /* err, denied, error: message; status: the key=value fields */
	unsigned long n_ok, n_failed; /* end */
};

/* 0, or -EBADMSG for a line that is none of the above. */
int mfa_proto_parse_reply(char *line, struct mfa_reply *ret);

/* True for the kinds that end the answer to one request. */
bool mfa_reply_is_final(enum mfa_reply_kind k);

struct stat;
/* The config-file rules st breaks (not a regular file; owner not root nor the euid; writable
 * by group or others), as one message naming each, in buf; returns how many (0: none). */
unsigned mfa_config_file_rules(const struct stat *st, char *buf, size_t size);
