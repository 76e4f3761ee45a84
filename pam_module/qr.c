/* The otpauth:// URI as a QR code of UTF-8 half blocks (two module rows per text line), as
 * `qrencode -t UTF8` draws it. The text holds the secret: it lives in sodium_malloc()ed
 * memory.
 *
 * Colours: the code cannot choose them. Over ssh the client shows keyboard-interactive text
 * through its control-character filter (OpenSSH utf8.c), which turns an escape sequence into
 * visible "\033[..." text, so the blocks are drawn in the terminal's own foreground on its
 * background. Light modules are blocks, and so is a full quiet zone of four modules (ISO/IEC
 * 18004): on a dark background that is a normal code with its light margin; on a light
 * background it is the exact inverse, and the drawn margin is then the dark margin an inverted
 * code needs, so a scanner that also reads inverted codes reads it on both (not every app
 * does). The key and the URI are always shown beside it.
 *
 * The code encodes the URI without the parameters that are the Key URI Format's defaults
 * (SHA1, 6 digits, 30 s): the same token, and a code one version smaller (37 instead of 41
 * modules for a usual issuer and account), so that it fits 24 rows with its margin.
 *
 * libqrencode is loaded here, at enrollment, not linked: PAM loads the module with
 * RTLD_NOW for every authentication, and resolving a library needed only once per user at
 * enrollment cost every ordinary login about a fifth of the module's load time (its
 * relocations; bench/RESULTS.md). Without the library the screen has no QR code, as in a
 * build without it; the key and the URI are always shown. */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "mfa-build.h"
#include "pam_totp.h"
#include "secret.h"

#if HAVE_QRENCODE
#include <qrencode.h>

#define QR_QUIET     4	/* modules of light border on each side (the standard's quiet zone) */
#define QR_MAX_WIDTH 72 /* modules; with the border it still fits 80 columns */
#define QR_DEFAULTS  "&algorithm=SHA1&digits=6&period=30"

struct qrlib {
	void *handle;
	__typeof__(QRcode_encodeString) *encode;
	__typeof__(QRcode_free) *free;
};

static void qrlib_close(struct qrlib *l)
{
	if (l->handle)
		dlclose(l->handle);
}

static int qrlib_open(struct qrlib *l)
{
	l->handle = dlopen(QRENCODE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!l->handle)
		return -ENOTSUP;
	l->encode = (__typeof__(l->encode))dlsym(l->handle, "QRcode_encodeString");
	l->free = (__typeof__(l->free))dlsym(l->handle, "QRcode_free");
	return l->encode && l->free ? 0 : -ENOTSUP;
}

/* 1 when module (x, y) is dark; the border and beyond are light. */
static int dark(const QRcode *q, int x, int y)
{
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return 0;
	return q->data[y * q->width + x] & 1;
}

static const char *half_block(int top_light, int bottom_light)
{
	if (top_light && bottom_light)
		return "\xe2\x96\x88"; /* U+2588 full block */
	if (top_light)
		return "\xe2\x96\x80"; /* U+2580 upper half */
	if (bottom_light)
		return "\xe2\x96\x84"; /* U+2584 lower half */
	return " ";
}

static int draw(const QRcode *q, char **ret_text)
{
	size_t cols, rows, size, len = 0;
	char *text;

	if (q->width > QR_MAX_WIDTH)
		return -E2BIG;
	cols = (size_t)q->width + 2 * QR_QUIET;
	rows = (cols + 1) / 2;
	size = rows * (cols * 3 + 1) + 1;
	text = mfa_sodium_malloc(size);
	if (!text)
		return -ENOMEM;
	for (int y = -QR_QUIET; y < q->width + QR_QUIET; y += 2) {
		for (int x = -QR_QUIET; x < q->width + QR_QUIET; x++) {
			const char *s = half_block(!dark(q, x, y), !dark(q, x, y + 1));

			memcpy(text + len, s, strlen(s));
			len += strlen(s);
		}
		text[len++] = '\n';
	}
	if (len > 0)
		len--; /* no trailing newline */
	text[len] = '\0';
	*ret_text = text;
	return 0;
}

/* The URI without its default parameters, in sodium memory (it holds the secret). */
static char *short_uri(const char *uri)
{
	size_t len = strlen(uri), dlen = strlen(QR_DEFAULTS);
	char *copy = mfa_sodium_malloc(len + 1);

	if (!copy)
		return NULL;
	memcpy(copy, uri, len + 1);
	if (len > dlen && strcmp(copy + len - dlen, QR_DEFAULTS) == 0)
		copy[len - dlen] = '\0';
	return copy;
}

int totp_qr_render(const char *uri, char **ret_text)
{
	_cleanup_(qrlib_close) struct qrlib lib = { NULL, NULL, NULL };
	char *text;
	QRcode *q;
	int r;

	if ((r = qrlib_open(&lib)) < 0)
		return r;
	if (!(text = short_uri(uri)))
		return -ENOMEM;
	q = lib.encode(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	r = q ? 0 : errno;
	mfa_secret_free_string(text);
	if (!q)
		return r == ERANGE || r == EINVAL ? -E2BIG : -ENOMEM;
	r = draw(q, ret_text);
	/* The modules encode the URI, secret included: wiped before libqrencode frees them. */
	sodium_memzero(q->data, (size_t)q->width * (size_t)q->width);
	lib.free(q);
	return r;
}
#else
int totp_qr_render(const char *uri, char **ret_text)
{
	return -ENOTSUP;
}
#endif
