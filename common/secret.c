/* TOTP secrets in locked memory (locked.c), hex (the state file's form) through libsodium,
 * base32 through liboath, otpauth:// URIs, and recovery codes stored as salted hashes. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <liboath/oath.h>
#include <sodium.h>

#include "locked.h"
#include "secret.h"

int mfa_sodium_ready(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

int mfa_secret_init(void)
{
	return mfa_sodium_ready();
}

void *mfa_sodium_malloc(size_t size)
{
	return mfa_sodium_ready() < 0 ? NULL : sodium_malloc(size);
}

static int secret_alloc(size_t len, struct mfa_secret **ret_secret)
{
	struct mfa_secret *s;

	if (len == 0 || len > MFA_SECRET_MAX_BYTES)
		return -EINVAL;
	s = mfa_locked_alloc(sizeof(*s) + len);
	if (!s)
		return -ENOMEM;
	s->bytes = (unsigned char *)(s + 1);
	s->len = len;
	*ret_secret = s;
	return 0;
}

void mfa_secret_free(struct mfa_secret *s)
{
	mfa_locked_free(s); /* wipes */
}

void mfa_secret_free_string(char *str)
{
	if (str)
		sodium_free(str);
}

int mfa_secret_new(size_t len, struct mfa_secret **ret_secret)
{
	struct mfa_secret *s = NULL;
	int r;

	if (len < MFA_SECRET_MIN_BYTES)
		return -EINVAL;
	if (mfa_sodium_ready() < 0)
		return -EIO;
	if ((r = secret_alloc(len, &s)) < 0)
		return r;
	randombytes_buf(s->bytes, len);
	*ret_secret = s;
	return 0;
}

int mfa_secret_from_bytes(const void *bytes, size_t len, struct mfa_secret **ret_secret)
{
	struct mfa_secret *s = NULL;
	int r;

	if ((r = secret_alloc(len, &s)) < 0)
		return r;
	memcpy(s->bytes, bytes, len);
	*ret_secret = s;
	return 0;
}

/* Upper case, no spaces, no padding: what liboath's decoder wants, in guarded scratch.
 * '=' is accepted only as trailing padding. */
static int normalise_b32(const char *b32, char *out, size_t size)
{
	bool padding = false;
	size_t n = 0;

	for (; *b32; b32++) {
		unsigned char c = (unsigned char)*b32;
		if (c == ' ')
			continue;
		if (c == '=') {
			padding = true;
			continue;
		}
		if (padding || !isalnum(c) || c >= 0x80 || n + 1 >= size)
			return -EINVAL;
		out[n++] = (char)toupper(c);
	}
	out[n] = '\0';
	return n == 0 ? -EINVAL : 0;
}

int mfa_secret_from_base32(const char *b32, struct mfa_secret **ret_secret)
{
	/* Guarded memory, not a locked stack buffer: sodium_mlock() cannot keep an unaligned
	 * stack range out of core dumps, and its munlock would unlock whole stack pages of a
	 * host process that locked them itself. */
	const size_t scratch_len = 2 * MFA_SECRET_B32_MAX;
	char *scratch = mfa_sodium_malloc(scratch_len);
	char *raw = NULL;
	size_t raw_len = 0;
	int r;

	if (!scratch)
		return -ENOMEM;
	r = normalise_b32(b32, scratch, scratch_len);
	if (r == 0 && oath_base32_decode(scratch, strlen(scratch), &raw, &raw_len) != OATH_OK)
		r = -EINVAL;
	if (r == 0 && (raw_len < MFA_SECRET_LOAD_MIN_BYTES || raw_len > MFA_SECRET_MAX_BYTES))
		r = -EINVAL;
	if (r == 0)
		r = mfa_secret_from_bytes(raw, raw_len, ret_secret);
	if (raw) {
		sodium_memzero(raw, raw_len);
		free(raw);
	}
	sodium_free(scratch);
	return r;
}

int mfa_secret_from_hex(const char *hex, size_t len, struct mfa_secret **ret_secret)
{
	struct mfa_secret *s = NULL;
	size_t n = 0;
	int r;

	/* Lower case only, as the writer makes it: one spelling per secret. */
	if (len % 2 != 0 || len / 2 < MFA_SECRET_LOAD_MIN_BYTES || len / 2 > MFA_SECRET_MAX_BYTES)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return -EINVAL;
	if ((r = secret_alloc(len / 2, &s)) < 0)
		return r;
	if (sodium_hex2bin(s->bytes, s->len, hex, len, NULL, &n, NULL) < 0 || n != s->len) {
		mfa_secret_free(s);
		return -EINVAL;
	}
	*ret_secret = s;
	return 0;
}

int mfa_secret_to_hex(const struct mfa_secret *s, char *buf, size_t size)
{
	if (!s || size < MFA_SECRET_HEX_MAX || s->len > MFA_SECRET_MAX_BYTES)
		return -EINVAL;
	sodium_bin2hex(buf, size, s->bytes, s->len);
	return 0;
}

int mfa_secret_to_base32(const struct mfa_secret *s, char *buf, size_t size)
{
	char *b32 = NULL;
	size_t len = 0, n;

	if (!s || size < MFA_SECRET_B32_MAX)
		return -EINVAL;
	if (oath_base32_encode((const char *)s->bytes, s->len, &b32, &len) != OATH_OK)
		return -ENOMEM;
	for (n = len; n > 0 && b32[n - 1] == '='; n--)
		;
	if (n >= size) {
		sodium_memzero(b32, len);
		free(b32);
		return -ENOBUFS;
	}
	memcpy(buf, b32, n);
	buf[n] = '\0';
	sodium_memzero(b32, len);
	free(b32);
	return 0;
}

int mfa_secret_to_base32_grouped(const struct mfa_secret *s, char *buf, size_t size)
{
	char plain[MFA_SECRET_B32_MAX];
	size_t i, n = 0;
	int r;

	if (size < 2 * MFA_SECRET_B32_MAX)
		return -EINVAL;
	if ((r = mfa_secret_to_base32(s, plain, sizeof(plain))) < 0)
		return r;
	for (i = 0; plain[i]; i++) {
		if (i > 0 && i % 4 == 0)
			buf[n++] = ' ';
		buf[n++] = plain[i];
	}
	buf[n] = '\0';
	sodium_memzero(plain, sizeof(plain));
	return 0;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int mfa_secret_percent_encode(const char *in, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		if (n + 4 > size)
			return -ENOBUFS;
		if (unreserved(c)) {
			buf[n++] = (char)c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 0xf];
		}
	}
	if (n >= size)
		return -ENOBUFS;
	buf[n] = '\0';
	return 0;
}

#define URI_MAX 1024

int mfa_secret_otpauth_uri(const struct mfa_secret *s, const char *issuer, const char *account,
			   enum mfa_algo algo, unsigned digits, unsigned period, char **ret_uri)
{
	char iss[3 * 64 + 1], acc[3 * 256 + 1], b32[MFA_SECRET_B32_MAX];
	char *uri;
	int r, n;

	if ((r = mfa_secret_percent_encode(issuer, iss, sizeof(iss))) < 0 ||
	    (r = mfa_secret_percent_encode(account, acc, sizeof(acc))) < 0)
		return r;
	if ((r = mfa_secret_to_base32(s, b32, sizeof(b32))) < 0)
		return r;
	uri = mfa_sodium_malloc(URI_MAX);
	if (!uri) {
		sodium_memzero(b32, sizeof(b32));
		return -ENOMEM;
	}
	n = snprintf(uri, URI_MAX,
		     "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=%s&digits=%u&period=%u",
		     iss, acc, b32, iss, mfa_algo_to_string(algo), digits, period);
	sodium_memzero(b32, sizeof(b32));
	if (n < 0 || n >= URI_MAX) {
		sodium_free(uri);
		return -ENOBUFS;
	}
	*ret_uri = uri;
	return 0;
}

/* Recovery codes carry 80 random bits, so a fast keyed hash (BLAKE2b with a per-code salt)
 * already makes guessing from a stolen state file infeasible; a slow password hash would
 * only cost every login that checks five of them. */
#define SALT_BYTES 16
#define HASH_BYTES 32

static int normalise_code(const char *in, char out[17])
{
	size_t n = 0;

	for (; *in; in++) {
		int c = toupper((unsigned char)*in);
		if (c == '-' || c == ' ')
			continue;
		if (n >= 16 || !((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')))
			return -EINVAL;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n == 16 ? 0 : -EINVAL;
}

int mfa_recovery_looks_like(const char *input)
{
	char norm[17];
	int r = normalise_code(input, norm);

	sodium_memzero(norm, sizeof(norm));
	return r == 0;
}

static void hash_with_salt(const char *norm, const unsigned char salt[SALT_BYTES],
			   unsigned char out[HASH_BYTES])
{
	crypto_generichash(out, HASH_BYTES, (const unsigned char *)norm, strlen(norm), salt,
			   SALT_BYTES);
}

int mfa_recovery_hash(const char *code, char hash[MFA_RECOVERY_HASH_LEN])
{
	unsigned char salt[SALT_BYTES], h[HASH_BYTES];
	char norm[17];

	if (normalise_code(code, norm) < 0)
		return -EINVAL;
	if (mfa_sodium_ready() < 0)
		return -EIO;
	randombytes_buf(salt, sizeof(salt));
	hash_with_salt(norm, salt, h);
	sodium_bin2hex(hash, 2 * SALT_BYTES + 1, salt, SALT_BYTES);
	hash[2 * SALT_BYTES] = '$';
	sodium_bin2hex(hash + 2 * SALT_BYTES + 1, 2 * HASH_BYTES + 1, h, HASH_BYTES);
	sodium_memzero(norm, sizeof(norm));
	sodium_memzero(h, sizeof(h));
	return 0;
}

static int parse_hash(const char *stored, unsigned char salt[SALT_BYTES],
		      unsigned char h[HASH_BYTES])
{
	size_t len;

	if (strlen(stored) != MFA_RECOVERY_HASH_LEN - 1 || stored[2 * SALT_BYTES] != '$')
		return -EINVAL;
	if (sodium_hex2bin(salt, SALT_BYTES, stored, 2 * SALT_BYTES, NULL, &len, NULL) < 0 ||
	    len != SALT_BYTES)
		return -EINVAL;
	if (sodium_hex2bin(h, HASH_BYTES, stored + 2 * SALT_BYTES + 1, 2 * HASH_BYTES, NULL, &len,
			   NULL) < 0 ||
	    len != HASH_BYTES)
		return -EINVAL;
	return 0;
}

int mfa_recovery_match(const char *input, const char (*hashes)[MFA_RECOVERY_HASH_LEN], unsigned n)
{
	unsigned char salt[SALT_BYTES], want[HASH_BYTES], got[HASH_BYTES];
	char norm[17];
	int found = -ENOENT;
	unsigned i;

	if (normalise_code(input, norm) < 0)
		return -ENOENT;
	for (i = 0; i < n; i++) {
		if (parse_hash(hashes[i], salt, want) < 0)
			continue;
		hash_with_salt(norm, salt, got);
		if (sodium_memcmp(got, want, HASH_BYTES) == 0 && found < 0)
			found = (int)i; /* keep going: every hash is checked */
	}
	sodium_memzero(norm, sizeof(norm));
	sodium_memzero(got, sizeof(got));
	return found;
}

int mfa_recovery_generate(unsigned n, char (*codes)[MFA_RECOVERY_CODE_LEN + 1],
			  char (*hashes)[MFA_RECOVERY_HASH_LEN])
{
	unsigned char raw[10];
	char b32[MFA_SECRET_B32_MAX];
	struct mfa_secret tmp = { .bytes = raw, .len = sizeof(raw) };
	unsigned i;
	int r = 0;

	if (n > MFA_RECOVERY_MAX)
		return -EINVAL;
	if (mfa_sodium_ready() < 0)
		return -EIO;
	for (i = 0; i < n && r == 0; i++) {
		randombytes_buf(raw, sizeof(raw));
		r = mfa_secret_to_base32(&tmp, b32, sizeof(b32));
		if (r == 0)
			snprintf(codes[i], MFA_RECOVERY_CODE_LEN + 1, "%.4s-%.4s-%.4s-%.4s", b32,
				 b32 + 4, b32 + 8, b32 + 12);
		if (r == 0)
			r = mfa_recovery_hash(codes[i], hashes[i]);
	}
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(b32, sizeof(b32));
	return r;
}
