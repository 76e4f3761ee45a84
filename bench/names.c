/* pam_totp benchmark: the names and secrets of the fake population (bench.h), shared by the
 * harness, which must not link liboath (see pam_bench.c), and the programs that write state. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void
bench_user_name(unsigned i, char buf[BENCH_NAME_MAX])
{
	snprintf(buf, BENCH_NAME_MAX, "bu%06u", i + 1);
}

void
bench_user_secret(unsigned i, unsigned char out[BENCH_SECRET_LEN])
{
	uint64_t x = UINT64_C(0x70616d5f746f7470) ^ ((uint64_t)i << 20);
	uint64_t v;
	size_t off;

	for (off = 0; off < BENCH_SECRET_LEN; off += sizeof(v)) {
		size_t n = BENCH_SECRET_LEN - off < sizeof(v) ? BENCH_SECRET_LEN - off : sizeof(v);

		v = splitmix64(&x);
		memcpy(out + off, &v, n);
	}
}
