// SPDX-License-Identifier: MIT
/* libFuzzer harness for the line table decoders: the table is bytes of
 * another process, so any byte string must decode without reading past it
 * (the input is an exact-size heap copy under ASan), trapping (UBSan) or
 * looping. Both decoders are also checked against straightforward
 * references written from CPython's description of the formats, wherever
 * CPython itself would give an answer.
 *
 * Input: int32 addr, int32 firstlineno (little-endian), then the table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linetable.h"

#define HDR 8
#define SKIP INT32_MIN /* the reference has no answer to compare */

/* 3.10, Objects/lnotab_notes.txt: (bytecode delta, line delta) pairs, a
 * line delta of -128 meaning no line; a lone last byte is no pair.
 */
static int ref_310(const uint8_t *t, size_t len, int first, int addr)
{
	long line = first, start, end = 0;
	size_t i;

	if (addr < 0)
		return first;
	for (i = 0; i + 1 < len; i += 2) {
		int8_t d = (int8_t)t[i + 1];

		start = end;
		end += t[i];
		if (d != -128)
			line += d;
		if (start <= addr && addr < end)
			return d == -128 ? -1 : (int)line;
	}
	return -1;
}

/* A varint of 6-bit groups; CPython reads on as long as bit 6 says so:
 * beyond 5 groups (30 bits) it shifts past 32, where there is no answer.
 */
static long ref_varint(const uint8_t *t, size_t len, size_t *i)
{
	unsigned long v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		b = *i < len ? t[(*i)++] : 0; /* the end reads as 0: no more */
		if (shift > 24)
			return SKIP;
		v |= (unsigned long)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	return (long)v;
}

/* 3.11+, Objects/locations.md. */
static int ref_311(const uint8_t *t, size_t len, int first, int addr)
{
	long line = first, start, end = 0;
	size_t i = 0;

	if (addr < 0)
		return first;
	while (i < len) {
		uint8_t b = t[i++];
		unsigned code = (b >> 3) & 15;
		size_t j = i;
		long delta = 0, v;

		if (!(b & 128))
			return -1; /* no entry starts here: CPython asserts */
		/* The varint is read wherever it goes, but the next entry is
		 * the next byte with the top bit set, varint or not.
		 */
		if (code == 13 || code == 14) {
			v = ref_varint(t, len, &j);
			if (v == SKIP)
				return SKIP;
			delta = v & 1 ? -(v >> 1) : v >> 1;
		} else if (code == 11 || code == 12) {
			delta = code - 10;
		}
		line += delta;
		/* gilwatch gives up on lines beyond +-2^30: garbage. */
		if (line < -(1L << 30) || line > (1L << 30))
			return SKIP;
		start = end;
		end += ((b & 7) + 1) * 2;
		while (i < len && !(t[i] & 128))
			i++;
		if (start <= addr && addr < end)
			return code == 15 ? -1 : (int)line;
	}
	return -1;
}

static void check(const uint8_t *t, size_t len, int first, int addr)
{
	int a = linetable__line_310(t, len, first, addr);
	int b = linetable__line_311(t, len, first, addr);
	int ra = ref_310(t, len, first, addr), rb = ref_311(t, len, first, addr);

	if (addr < 0 && (a != first || b != first))
		abort();
	if (a != ra)
		abort();
	if (rb != SKIP && b != rb)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *t = data + HDR;
	size_t len, i;
	int32_t addr, first;
	long span;

	if (size < HDR)
		return 0;
	memcpy(&addr, data, 4);
	memcpy(&first, data + 4, 4);
	len = size - HDR;
	/* Both formats cover at most 16 bytecode bytes per table byte. */
	span = 16 * (long)len + 4;
	check(t, len, first, addr);
	check(t, len, first, (int)(((unsigned)addr) % span) - 2);
	if (len <= 64) {
		for (i = 0; i < (size_t)span; i++)
			check(t, len, first, (int)i - 2);
	} else {
		for (i = 0; i < 64; i++)
			check(t, len, first, (int)((i * 2654435761u + (unsigned)addr) % span));
	}
	check(t, len, first, INT32_MAX);
	check(t, len, first, INT32_MIN);
	return 0;
}
