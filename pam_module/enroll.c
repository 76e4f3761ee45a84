/* Enrollment (story 2): a new secret shown through the conversation together with the
 * prompt (sshd keyboard-interactive shows text only with the next prompt), confirmed by a
 * code; the confirmed token is then kept pending in the handle (pending.c), and written only
 * once the whole authentication succeeded. Every text buffer that holds the secret lives in
 * sodium_malloc()ed memory and is wiped when freed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <sodium.h>

#include "mfa-build.h"
#include "pam_totp.h"
#include "secret.h"
#include "totp.h"

#define ARENA_SIZE (32 * 1024)
#define MSG_MAX	   500 /* bytes of text per message (PAM_MAX_MSG_SIZE is 512) */

/* Text of the messages of one conversation call. */
struct screen {
	char *buf; /* sodium_malloc()ed */
	size_t used;
	struct pam_message msg[PAM_MAX_NUM_MSG];
	size_t n;
};

static void screen_done(struct screen *s)
{
	if (s->buf)
		sodium_free(s->buf);
	*s = (struct screen){0};
}

static int screen_add(struct screen *s, int style, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int screen_add(struct screen *s, int style, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->n >= PAM_MAX_NUM_MSG - 1) /* room for the prompt */
		return -E2BIG;
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->used, ARENA_SIZE - s->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= ARENA_SIZE - s->used)
		return -E2BIG;
	s->msg[s->n++] = (struct pam_message){.msg_style = style, .msg = s->buf + s->used};
	s->used += (size_t)n + 1;
	return 0;
}

/* Adds text (lines split by '\n') packed into messages of at most MSG_MAX bytes. */
static int screen_add_block(struct screen *s, const char *text)
{
	while (*text) {
		size_t take = 0;

		while (text[take]) {
			const char *nl = strchr(text + take, '\n');
			size_t line = nl ? (size_t)(nl - text - take) + 1 : strlen(text + take);

			if (take > 0 && take + line > MSG_MAX)
				break;
			take += line;
		}
		if (screen_add(s, PAM_TEXT_INFO, "%.*s", (int)(take - (text[take - 1] == '\n')),
			       text) < 0)
			return -E2BIG;
		text += take;
	}
	return 0;
}

static int screen_ask(struct totp_ctx *ctx, struct screen *s, char **ret_answer)
{
	s->msg[s->n++] = (struct pam_message){.msg_style = PAM_PROMPT_ECHO_OFF, .msg = TOTP_PROMPT};
	return totp_converse(ctx->pamh, s->msg, s->n, ret_answer);
}

static int screen_init(struct screen *s)
{
	*s = (struct screen){.buf = mfa_sodium_malloc(ARENA_SIZE)};
	return s->buf ? 0 : -ENOMEM;
}

static size_t secret_bytes(enum mfa_algo a)
{
	return a == MFA_ALGO_SHA512 ? 64 : a == MFA_ALGO_SHA256 ? 32 : MFA_SECRET_MIN_BYTES;
}

static void log_enroll(struct totp_ctx *ctx, int prio, const char *result, const char *reason,
		       int r, long long count)
{
	struct mfa_event ev = totp_event("enroll", ctx->user, result, reason);

	ev.error = r;
	ev.count = count;
	totp_log(ctx, prio, &ev);
}

/* The QR code as text lines, or NULL (not built, disabled, too big: the key and URI
 * suffice). */
static char *qr_text(struct totp_ctx *ctx, const char *uri)
{
	char *qr = NULL;

	if (!HAVE_QRENCODE || !ctx->cfg.enrollment.qr || totp_qr_render(uri, &qr) < 0)
		return NULL;
	return qr;
}

/* Why: only a pending reset mentions one, and in words that are true also for an account
 * that never had a token (an administrator may reset a user who never enrolled; the state
 * does not tell the two apart). */
static int why_line(const struct mfa_token *t, struct screen *s)
{
	char when[64];

	if (t->status != MFA_TOKEN_RESET)
		return screen_add(s, PAM_TEXT_INFO,
				  "This account requires a one-time code from an authenticator "
				  "app.");
	totp_format_time(t->reset_at, when, sizeof(when));
	return screen_add(s, PAM_TEXT_INFO,
			  "%s asked for a new authenticator token on %s; any earlier token no "
			  "longer works.",
			  t->reset_by[0] ? t->reset_by : "An administrator", when);
}

/* The first screen: why, the QR code, then who, the key, the URI and what to do, so that at
 * 80x24 the key, the URI and the prompt are the last lines and never scroll away (the QR
 * code may). */
static int first_screen(struct totp_ctx *ctx, const struct mfa_token *t,
			const struct mfa_secret *sec, struct screen *s)
{
	const struct mfa_config *c = &ctx->cfg;
	char key[2 * MFA_SECRET_B32_MAX];
	char *uri = NULL, *qr = NULL;
	int r;

	r = why_line(t, s);
	if (r == 0)
		r = mfa_secret_otpauth_uri(sec, c->issuer, ctx->user, c->totp.algorithm,
					   c->totp.digits, c->totp.period, &uri);
	if (r == 0 && (qr = qr_text(ctx, uri))) {
		size_t n0 = s->n, used0 = s->used;

		if (screen_add_block(s, qr) < 0) {
			/* too many lines for one call: the key and URI suffice */
			sodium_memzero(s->buf + used0, s->used - used0);
			s->n = n0;
			s->used = used0;
		}
		mfa_secret_free_string(qr);
	}
	if (r == 0)
		r = screen_add(s, PAM_TEXT_INFO, "Set up a new token: issuer %s, account %s.",
			       c->issuer, ctx->user);
	if (r == 0)
		r = mfa_secret_to_base32_grouped(sec, key, sizeof(key));
	if (r == 0)
		r = screen_add(s, PAM_TEXT_INFO, "Key: %s (%s, %u digits, %u seconds)", key,
			       mfa_algo_to_string(c->totp.algorithm), c->totp.digits,
			       c->totp.period);
	sodium_memzero(key, sizeof(key));
	if (r == 0)
		r = screen_add(s, PAM_TEXT_INFO, "URI: %s", uri);
	mfa_secret_free_string(uri);
	if (r == 0)
		r = screen_add(s, PAM_TEXT_INFO,
			       "Scan the code or type the key into the app, then enter the "
			       "code it shows.");
	return r;
}

/* Asks for the confirming code, at most TOTP_ENROLL_TRIES times; 0 and *ret_step, -EACCES
 * all wrong, other < 0 conversation failure. */
static int confirm(struct totp_ctx *ctx, const struct mfa_token *t, const struct mfa_secret *sec,
		   int64_t *ret_step)
{
	struct mfa_totp_params p = {ctx->cfg.totp.algorithm, ctx->cfg.totp.digits,
				    ctx->cfg.totp.period, ctx->cfg.totp.window};
	int r;

	for (unsigned i = 0; i < TOTP_ENROLL_TRIES; i++) {
		_cleanup_(totp_answer_freep) char *answer = NULL;
		_cleanup_(screen_done) struct screen s = {0};

		if ((r = screen_init(&s)) < 0)
			return r;
		if (i == 0)
			r = first_screen(ctx, t, sec, &s);
		else
			r = screen_add(&s, PAM_ERROR_MSG, "Wrong code, try again (%u of %u).",
				       i + 1, TOTP_ENROLL_TRIES);
		if (r < 0)
			return r;
		if ((r = screen_ask(ctx, &s, &answer)) < 0)
			return r;
		if (mfa_policy_confirm(&ctx->pol, sec, &p, answer, time(NULL), ret_step) == 0)
			return 0;
	}
	return -EACCES;
}

void totp_show_codes(struct totp_ctx *ctx, const char (*codes)[MFA_RECOVERY_CODE_LEN + 1],
		       unsigned n)
{
	_cleanup_(screen_done) struct screen s = {0};
	int r;

	if (n == 0 || screen_init(&s) < 0)
		return;
	r = screen_add(&s, PAM_TEXT_INFO,
		       "Token saved. Recovery codes (each works once; keep them safe, they are "
		       "not shown again):");
	for (unsigned i = 0; r == 0 && i < n; i++)
		r = screen_add(&s, PAM_TEXT_INFO, "  %s", codes[i]);
	if (r == 0 && !ctx->args.silent) {
		_cleanup_(totp_answer_freep) char *reply = NULL;

		/* acknowledged at a prompt: sshd shows text after the last prompt twice
		 * (totp_acknowledge); without an answer, shown at least */
		s.msg[s.n++] = (struct pam_message){.msg_style = PAM_PROMPT_ECHO_ON,
						    .msg = TOTP_ACK_PROMPT};
		r = totp_converse(ctx->pamh, s.msg, s.n, &reply);
		if (r < 0)
			r = totp_converse(ctx->pamh, s.msg, --s.n, NULL);
	} else if (r == 0) {
		r = -ECANCELED; /* PAM_SILENT */
	}
	if (r < 0)
		log_enroll(ctx, LOG_WARNING, "ok", "codes-not-shown", r, -1);
}

/* Why enrollment cannot happen here, or NULL (an expired reset is the policy's decision). */
static const char *refusal(struct totp_ctx *ctx)
{
	const struct pam_conv *conv = NULL;

	if (!ctx->cfg.enrollment.allow)
		return "enrollment-disabled";
	if (ctx->args.no_enroll)
		return "no-enroll";
	if (ctx->args.silent)
		return "silent";
	if (pam_get_item(ctx->pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || !conv ||
	    !conv->conv)
		return "no-conversation";
	return NULL;
}

int totp_enroll(struct totp_ctx *ctx, const struct mfa_token *t)
{
	_cleanup_(mfa_secret_freep) struct mfa_secret *sec = NULL;
	const char *why = refusal(ctx);
	int64_t step = -1;
	int r;

	if (why) {
		totp_error(ctx, "An authenticator must be set up for this account, which cannot "
				"be done here; contact an administrator.");
		log_enroll(ctx, LOG_NOTICE, "refused", why, 0, -1);
		return PAM_AUTH_ERR;
	}
	if ((r = mfa_secret_new(secret_bytes(ctx->cfg.totp.algorithm), &sec)) < 0) {
		log_enroll(ctx, LOG_ERR, "error", "secret", r, -1);
		return totp_pam_code(r);
	}
	r = confirm(ctx, t, sec, &step);
	if (r == -EACCES) {
		totp_error(ctx, "Wrong code: nothing was saved.");
		log_enroll(ctx, LOG_NOTICE, "fail", "wrong-code", 0, -1);
		return PAM_AUTH_ERR;
	}
	if (r == 0)
		r = totp_pending_keep(ctx, t, &sec, step);
	if (r < 0) {
		log_enroll(ctx, LOG_ERR, "error", "enroll", r, -1);
		return r == -ENOTCONN || r == -EIO ? PAM_CONV_ERR : totp_pam_code(r);
	}
	return PAM_SUCCESS;
}
