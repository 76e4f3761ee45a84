/* The PAM conversation: info lines and the prompt go in one call, because sshd's
 * keyboard-interactive delivers text only together with the next prompt. Replies are wiped
 * before they are freed: they hold codes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "pam_totp.h"

void totp_answer_free(char *answer)
{
	if (!answer)
		return;
	sodium_memzero(answer, strlen(answer));
	free(answer);
}

static void free_replies(struct pam_response *resp, size_t n)
{
	if (!resp)
		return;
	for (size_t i = 0; i < n; i++)
		totp_answer_free(resp[i].resp);
	free(resp);
}

int totp_converse(pam_handle_t *pamh, const struct pam_message *msgs, size_t n, char **ret_answer)
{
	const struct pam_conv *conv = NULL;
	const struct pam_message *pmsg[PAM_MAX_NUM_MSG];
	struct pam_response *resp = NULL;
	bool ask;
	int r;

	if (n == 0 || n > PAM_MAX_NUM_MSG)
		return -EINVAL;
	r = pam_get_item(pamh, PAM_CONV, (const void **)&conv);
	if (r != PAM_SUCCESS || !conv || !conv->conv)
		return -ENOTCONN;
	for (size_t i = 0; i < n; i++)
		pmsg[i] = &msgs[i];
	ask = msgs[n - 1].msg_style == PAM_PROMPT_ECHO_OFF ||
	      msgs[n - 1].msg_style == PAM_PROMPT_ECHO_ON;
	r = conv->conv((int)n, pmsg, &resp, conv->appdata_ptr);
	if (r != PAM_SUCCESS) {
		free_replies(resp, n);
		return -EIO;
	}
	if (ask) {
		if (!resp || !resp[n - 1].resp) {
			free_replies(resp, n);
			return -EIO;
		}
		if (ret_answer)
			*ret_answer = TAKE_PTR(resp[n - 1].resp);
	}
	free_replies(resp, n);
	return 0;
}

int totp_ask_code(struct totp_ctx *ctx, const char *info, char **ret_answer)
{
	struct pam_message m[2];
	size_t n = 0;

	if (info && !ctx->args.silent)
		m[n++] = (struct pam_message){.msg_style = PAM_TEXT_INFO, .msg = info};
	m[n++] = (struct pam_message){.msg_style = PAM_PROMPT_ECHO_OFF, .msg = TOTP_PROMPT};
	return totp_converse(ctx->pamh, m, n, ret_answer);
}

static void say(struct totp_ctx *ctx, int style, const char *text)
{
	struct pam_message m = {.msg_style = style, .msg = text};

	if (!ctx->args.silent)
		(void)totp_converse(ctx->pamh, &m, 1, NULL);
}

void totp_acknowledge(struct totp_ctx *ctx, const char *text)
{
	struct pam_message m[2] = {
		{.msg_style = PAM_TEXT_INFO, .msg = text},
		{.msg_style = PAM_PROMPT_ECHO_ON, .msg = TOTP_ACK_PROMPT},
	};
	char *reply = NULL;

	if (ctx->args.silent)
		return;
	/* no reply possible: show the text at least */
	if (totp_converse(ctx->pamh, m, 2, &reply) < 0)
		(void)totp_converse(ctx->pamh, m, 1, NULL);
	totp_answer_free(reply);
}

void totp_info(struct totp_ctx *ctx, const char *text)
{
	say(ctx, PAM_TEXT_INFO, text);
}

void totp_error(struct totp_ctx *ctx, const char *text)
{
	say(ctx, PAM_ERROR_MSG, text);
}

void totp_format_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(buf, size, "@%lld", (long long)t);
}
