/* TOTP secrets in locked memory, base32, otpauth:// URIs and recovery codes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Secret bytes live in locked pages of their own (mfa_locked_alloc: mlock, no core dump,
 * wiped on free; locked.c says why not sodium_malloc()). */
struct mfa_secret {
	unsigned char *bytes;
	size_t len;
};

#define MFA_SECRET_MIN_BYTES 20 /* 160 bits, RFC 4226 §4 R6 */
#define MFA_SECRET_MAX_BYTES 64
/* Base32 of MFA_SECRET_MAX_BYTES with padding, plus NUL. */
#define MFA_SECRET_B32_MAX 112
/* Hex of MFA_SECRET_MAX_BYTES, plus NUL. */
#define MFA_SECRET_HEX_MAX (2 * MFA_SECRET_MAX_BYTES + 1)
/* The fewest bytes a stored secret may have: what earlier versions loaded (RFC 4226's
 * minimum of 128 bits was not enforced on hand-made keys), so that their files still load. */
#define MFA_SECRET_LOAD_MIN_BYTES 10

/* Recovery codes: 16 base32 characters shown as XXXX-XXXX-XXXX-XXXX (80 bits). */
#define MFA_RECOVERY_MAX 20
#define MFA_RECOVERY_CODE_LEN 19 /* with dashes, without NUL */
/* Stored form: "<salt hex 32>$<BLAKE2b-256 hex 64>", NUL-terminated. */
#define MFA_RECOVERY_HASH_LEN 98 /* 32 + 1 + 64 characters and the NUL */

/* libsodium's sodium_init() (thread safe; once, then a no-op): what sodium_malloc() and the
 * random generator need. The functions here and in common/ that use either call it
 * themselves, so that a login that only verifies a code never pays for its CPU probe
 * (locked.c). Programs call it at start. 0 or -EIO. */
int mfa_secret_init(void);
int mfa_sodium_ready(void);
/* sodium_malloc() after mfa_sodium_ready(); NULL on failure. Free with sodium_free(). */
void *mfa_sodium_malloc(size_t size);

/* A new random secret of len bytes (MFA_SECRET_MIN_BYTES..MAX) from libsodium. */
int mfa_secret_new(size_t len, struct mfa_secret **ret_secret);
/* Copies len raw bytes into a new guarded secret (tests, RFC vectors). */
int mfa_secret_from_bytes(const void *bytes, size_t len, struct mfa_secret **ret_secret);
/* Decodes base32 (liboath; case-insensitive, spaces and padding allowed). -EINVAL if
 * malformed or decodes to fewer than MFA_SECRET_LOAD_MIN_BYTES or more than
 * MFA_SECRET_MAX_BYTES bytes. liboath's oath_base32_decode() copies its input (the secret's
 * text, upper-cased) into a heap buffer that it frees unwiped: only for state files written
 * by earlier versions (base32) and test tools, never on a current state file's load. */
int mfa_secret_from_base32(const char *b32, struct mfa_secret **ret_secret);
/* Decodes exactly len characters of lower-case hex (the state file's form; libsodium, straight
 * into locked memory: no copy anywhere). -EINVAL on an odd length, any other character, or
 * fewer than MFA_SECRET_LOAD_MIN_BYTES or more than MFA_SECRET_MAX_BYTES bytes. */
int mfa_secret_from_hex(const char *hex, size_t len, struct mfa_secret **ret_secret);
/* Encodes into buf (lower-case hex, libsodium); size >= MFA_SECRET_HEX_MAX. buf holds a
 * secret: the caller wipes it (sodium_memzero) after use. */
int mfa_secret_to_hex(const struct mfa_secret *s, char *buf, size_t size);
/* Encodes into buf (unpadded base32, upper case); size >= MFA_SECRET_B32_MAX.
 * buf holds a secret: the caller wipes it (sodium_memzero) after use. liboath's encoder
 * writes straight into the block it returns (no other copy), which is wiped here before
 * free(). */
int mfa_secret_to_base32(const struct mfa_secret *s, char *buf, size_t size);
/* buf as groups of 4 separated by spaces ("JBSW Y3DP ..."); size >= 2 * MFA_SECRET_B32_MAX. */
int mfa_secret_to_base32_grouped(const struct mfa_secret *s, char *buf, size_t size);
/* Wipes and frees; accepts NULL. */
void mfa_secret_free(struct mfa_secret *s);
static inline void mfa_secret_freep(struct mfa_secret **s)
{
	mfa_secret_free(*s);
	*s = NULL;
}

/* otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=A&digits=D&period=P
 * with RFC 3986 percent-encoding of issuer and account. *ret_uri is sodium_malloc()ed
 * (it holds the secret): free it with mfa_secret_free_string(). */
int mfa_secret_otpauth_uri(const struct mfa_secret *s, const char *issuer, const char *account,
			   enum mfa_algo algo, unsigned digits, unsigned period, char **ret_uri);
void mfa_secret_free_string(char *str);

/* Percent-encodes everything but RFC 3986 unreserved characters (tests use it directly). */
int mfa_secret_percent_encode(const char *in, char *buf, size_t size);

/* n new recovery codes, each MFA_RECOVERY_CODE_LEN+1 bytes, into codes (sodium_malloc()ed by
 * the caller or on the stack with cleanup wipe), and their salted hashes into hashes. */
int mfa_recovery_generate(unsigned n, char (*codes)[MFA_RECOVERY_CODE_LEN + 1],
			  char (*hashes)[MFA_RECOVERY_HASH_LEN]);
/* Hash one code with a fresh salt. */
int mfa_recovery_hash(const char *code, char hash[MFA_RECOVERY_HASH_LEN]);
/* Index of the stored hash that matches input (normalised: case, dashes and spaces
 * ignored), or -ENOENT. Every hash is checked (no early exit) and compared in constant
 * time. */
int mfa_recovery_match(const char *input, const char (*hashes)[MFA_RECOVERY_HASH_LEN], unsigned n);
/* 1 if input looks like a recovery code rather than a TOTP code, else 0. */
int mfa_recovery_looks_like(const char *input);
