/* A PAM application for the tests: runs pam_authenticate() for one user of one service and
 * answers each prompt from the next argument. It prints every message it receives
 * ("INFO text", "ERROR text", "PROMPT text"), each call opened by "CALL n", and finally
 * "RESULT <code> <name>"; each answer given is printed as "ANSWERED text".
 *
 * Answers: lit:TEXT       TEXT as typed
 *          code:N         the TOTP code of step now+N for the key given with -k
 *          enroll:N       the same for the key shown in this conversation ("Key: ...")
 *          long           200 digits
 *          stdin          print "WAITING", then answer the next line read from stdin
 *                         (concurrency tests hold many logins at their prompt this way)
 * An echo-on prompt (press Enter) after the last answer is answered with "".
 * Options: -s  PAM_SILENT;  -n  no conversation function;  -k B32  key for code:N;
 *          -r HOST, -t TTY  PAM_RHOST and PAM_TTY;
 *          -o OPS  what the application calls, in order, comma-separated (default
 *                  "auth,cred": the least an application does after a success; it is what
 *                  writes a confirmed enrollment for a service without an account line):
 *                  auth, acct (pam_acct_mgmt), cred (pam_setcred ESTABLISH), delcred
 *                  (DELETE), recred (REINITIALIZE), user=NAME (pam_set_item PAM_USER),
 *                  pause ("PAUSED", then wait for a line on stdin); each prints
 *                  "OP name code". Like an application, it stops at the first failure
 *                  (RESULT is that code, else the last one's), unless -c (a careless
 *                  application that goes on). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "secret.h"
#include "totp.h"

struct driver {
	char **answers;
	int n_answers;
	int next;
	const char *key; /* -k */
	char shown[256]; /* key seen in a "Key: " message, spaces removed */
};

static void remember_key(struct driver *d, const char *msg)
{
	size_t n = 0;

	if (strncmp(msg, "Key: ", 5) != 0)
		return;
	for (msg += 5; *msg && *msg != '(' && n + 1 < sizeof(d->shown); msg++)
		if (*msg != ' ')
			d->shown[n++] = *msg;
	d->shown[n] = '\0';
}

static char *code_for(const char *b32, long offset)
{
	struct mfa_totp_params p = {MFA_ALGO_SHA1, 6, 30, 1};
	struct mfa_secret *s = NULL;
	char code[MFA_CODE_MAX + 1];

	if (!b32 || mfa_secret_from_base32(b32, &s) < 0)
		return strdup("000000x");
	if (mfa_totp_generate(s, &p, mfa_totp_step(&p, time(NULL)) + offset, code) < 0)
		code[0] = '\0';
	mfa_secret_free(s);
	return strdup(code);
}

static char *answer(struct driver *d)
{
	const char *a;
	char line[512];

	if (d->next >= d->n_answers)
		return NULL;
	a = d->answers[d->next++];
	if (strncmp(a, "lit:", 4) == 0)
		return strdup(a + 4);
	if (strncmp(a, "code:", 5) == 0)
		return code_for(d->key, strtol(a + 5, NULL, 10));
	if (strncmp(a, "enroll:", 7) == 0)
		return code_for(d->shown[0] ? d->shown : NULL, strtol(a + 7, NULL, 10));
	if (strcmp(a, "long") == 0) {
		memset(line, '1', 200);
		line[200] = '\0';
		return strdup(line);
	}
	if (strcmp(a, "stdin") == 0) {
		printf("WAITING\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return NULL;
		line[strcspn(line, "\n")] = '\0';
		return strdup(line);
	}
	return NULL;
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct driver *d = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (!r)
		return PAM_BUF_ERR;
	printf("CALL %d\n", n);
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_TEXT_INFO:
			printf("INFO %s\n", msg[i]->msg);
			remember_key(d, msg[i]->msg);
			break;
		case PAM_ERROR_MSG:
			printf("ERROR %s\n", msg[i]->msg);
			break;
		default:
			printf("PROMPT %s\n", msg[i]->msg);
			fflush(stdout);
			r[i].resp = answer(d);
			/* a person presses Enter at a prompt that shows what they typed */
			if (!r[i].resp && msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
				r[i].resp = strdup("");
			if (r[i].resp) /* the test checks that no log line holds it */
				printf("ANSWERED %s\n", r[i].resp);
			if (!r[i].resp) {
				for (int j = 0; j < i; j++)
					free(r[j].resp);
				free(r);
				return PAM_CONV_ERR;
			}
		}
	}
	fflush(stdout);
	*resp = r;
	return PAM_SUCCESS;
}

static int run_op(pam_handle_t *pamh, const char *op, int flags)
{
	char line[64];

	if (strcmp(op, "auth") == 0)
		return pam_authenticate(pamh, flags);
	if (strcmp(op, "acct") == 0)
		return pam_acct_mgmt(pamh, flags);
	if (strcmp(op, "cred") == 0)
		return pam_setcred(pamh, flags | PAM_ESTABLISH_CRED);
	if (strcmp(op, "recred") == 0)
		return pam_setcred(pamh, flags | PAM_REINITIALIZE_CRED);
	if (strcmp(op, "delcred") == 0)
		return pam_setcred(pamh, flags | PAM_DELETE_CRED);
	if (strncmp(op, "user=", 5) == 0) /* the application switches users */
		return pam_set_item(pamh, PAM_USER, op + 5);
	if (strcmp(op, "pause") == 0) {
		printf("PAUSED\n");
		fflush(stdout);
		return fgets(line, sizeof(line), stdin) ? PAM_SUCCESS : PAM_ABORT;
	}
	return PAM_SYSTEM_ERR;
}

/* Runs the comma-separated ops; the code the sequence ends with. */
static int run_ops(pam_handle_t *pamh, char *ops, int flags, int careless)
{
	int r = PAM_SUCCESS;

	for (char *op = strtok(ops, ","); op; op = strtok(NULL, ",")) {
		r = run_op(pamh, op, flags);
		printf("OP %s %d\n", op, r);
		fflush(stdout);
		if (r != PAM_SUCCESS && !careless)
			break;
	}
	return r;
}

int main(int argc, char **argv)
{
	struct driver d = {0};
	struct pam_conv pc = {conv, &d};
	pam_handle_t *pamh = NULL;
	char default_ops[] = "auth,cred", *ops = default_ops;
	const char *rhost = NULL, *tty = NULL;
	int flags = 0, careless = 0, opt, r;

	while ((opt = getopt(argc, argv, "snk:o:cr:t:")) != -1) {
		if (opt == 's')
			flags |= PAM_SILENT;
		else if (opt == 'n')
			pc.conv = NULL;
		else if (opt == 'k')
			d.key = optarg;
		else if (opt == 'o')
			ops = optarg;
		else if (opt == 'c')
			careless = 1;
		else if (opt == 'r')
			rhost = optarg;
		else if (opt == 't')
			tty = optarg;
		else
			return 2;
	}
	if (argc - optind < 2 || mfa_secret_init() < 0 || mfa_totp_init() < 0)
		return 2;
	d.answers = argv + optind + 2;
	d.n_answers = argc - optind - 2;
	r = pam_start(argv[optind], argv[optind + 1], &pc, &pamh);
	if (r != PAM_SUCCESS) {
		printf("START %d\n", r);
		return 3;
	}
	if ((rhost && pam_set_item(pamh, PAM_RHOST, rhost) != PAM_SUCCESS) ||
	    (tty && pam_set_item(pamh, PAM_TTY, tty) != PAM_SUCCESS))
		return 3;
	r = run_ops(pamh, ops, flags, careless);
	printf("RESULT %d %s\n", r, pam_strerror(pamh, r));
	pam_end(pamh, r);
	return 0;
}
