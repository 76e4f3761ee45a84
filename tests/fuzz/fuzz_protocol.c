/* libFuzzer target: the mfa-resetd request parser (untrusted input from any local user) and
 * the client's reply splitter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const struct mfa_request *req)
{
	if ((unsigned)req->verb >= _MFA_VERB_MAX || req->n_args > MFA_PROTO_ARGS_MAX)
		abort();
	if ((req->verb == MFA_VERB_LIST) != (req->n_args == 0))
		abort();
	for (size_t i = 0; i < req->n_args; i++)
		if (!mfa_proto_arg_ok(req->args[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfa_request req = { 0 };
	struct mfa_reply rep;
	struct mfa_err err = { 0 };
	char *copy;

	if (mfa_proto_parse_request((const char *)data, size, &req, &err) == 0) {
		check_request(&req);
		mfa_request_free(&req);
	} else if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
		abort();
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	(void)mfa_proto_parse_reply(copy, &rep);
	free(copy);
	return 0;
}
