/* mfa-reset internals: the connection to mfa-resetd and the two output formats. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "protocol.h"

#define EXIT_SOME_FAILED 1
#define EXIT_USAGE 2
#define EXIT_NOT_AUTHORIZED 3
#define EXIT_UNREACHABLE 4

enum out_mode {
	OUT_RESULTS, /* ok/err lines of reset and unlock */
	OUT_STATUS,  /* status lines */
	OUT_PLAN,    /* dry run: the users that would be reset */
};

struct client {
	int fd;
	FILE *rd, *wr;
	bool json;
	unsigned timeout_s; /* per read, write and connect */
	enum out_mode mode;
	bool first; /* no JSON element written yet */
	unsigned long n_ok, n_failed, n_unsynced;
	/* After a lost connection: n_unknown names from unknown_from whose result never came,
	 * and n_unsent names never sent. */
	size_t n_answered, n_unknown, n_unsent;
	char *const *unknown_from;
	/* Why the run stopped, for the JSON document: NULL when it did not. */
	char err_code[32];
	char err_msg[256];
};

/* Records why the run stopped (the first reason wins). */
void client_set_error(struct client *c, const char *code, const char *msg);
/* s with every byte outside printable ASCII (controls, space, >= 0x80) as \xNN, and at most
 * 200 bytes of it: safe to print on a terminal. Four static buffers, used in rotation. */
const char *esc(const char *s);
/* The same for a message: spaces kept. */
const char *esc_msg(const char *s);

/* A handler for the non-final reply lines of one request. */
typedef int (*reply_fn)(struct client *c, const struct mfa_reply *rep, void *userdata);

/* -errno when the daemon cannot be reached. */
int client_connect(struct client *c, const char *path);
void client_close(struct client *c);

/* Sends one request and feeds each reply line to fn until the final line. 0 "end"
 * (counts added to c), -EACCES "denied" (reason printed), -EPROTO "error" or a broken
 * reply, -EPIPE connection lost. */
int client_request(struct client *c, enum mfa_verb v, char *const *args, size_t n, reply_fn fn,
		   void *userdata);

/* The same for any number of args: split into requests of at most MFA_PROTO_ARGS_MAX
 * arguments and MFA_PROTO_LINE_MAX bytes. */
int client_request_all(struct client *c, enum mfa_verb v, char *const *args, size_t n,
		       reply_fn fn, void *userdata);

/* Asks on /dev/tty; 1 yes, 0 no, -ENXIO no terminal. */
int confirm_reset(char *const *names, size_t n);

/* Output: begin, one call per reply line, end with the summary. */
void out_begin(struct client *c, enum out_mode mode);
int out_reply(struct client *c, const struct mfa_reply *rep, void *userdata);
void out_local_error(struct client *c, const char *user, const char *code, const char *msg);
/* The summary line; r < 0 from the requests. A refusal (-EACCES) has printed its reason and
 * gets no "0 succeeded" line in text mode; JSON is always closed. */
void out_end(struct client *c, int r);

enum mode { MODE_RESET, MODE_STATUS, MODE_LIST, MODE_UNLOCK };

struct options {
	enum mode mode;
	int n_modes;
	bool yes, json, dry_run;
	unsigned timeout_s;
	const char *socket, *config, *from_file, *check_config;
	struct mfa_strlist groups;
	struct mfa_strlist users;  /* owned */
	struct mfa_strlist bad_lines; /* --from-file lines refused: "FILE:N" */
	struct mfa_strlist bad_why;   /* ... and why, one for one */
	struct mfa_strlist plan;      /* users and group members, each once */
};

/* The two halves of main(): a reset (with plan, confirmation, dry run), and the queries
 * (--status, --list, --unlock). They return the exit status. */
int reset_main(struct client *c, struct options *o);
/* --check-config: every problem of the config file at path, with its line; the exit status. */
int check_config_main(const char *path);
int query_main(struct client *c, struct options *o);
