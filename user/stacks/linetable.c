// SPDX-License-Identifier: MIT
/* Mirrors CPython's Objects/codeobject.c (advance(), _PyCode_CheckLineNumber())
 * of 3.10 and 3.11-3.13, minus the trust in the input.
 */
#include "linetable.h"

int linetable__line_310(const uint8_t *t, size_t len, int firstlineno, int addr)
{
	long start = -1, end = 0, line = firstlineno, ar_line = -1;
	size_t i;

	if (addr < 0)
		return firstlineno;
	for (i = 0; i + 1 < len && end <= addr; i += 2) {
		int8_t ldelta = (int8_t)t[i + 1];

		start = end;
		end += t[i];
		if (ldelta == -128) {
			ar_line = -1;
		} else {
			line += ldelta;
			ar_line = line;
		}
	}
	if (end <= addr || start > addr)
		return -1;
	return (int)ar_line;
}

/* Reads a varint of 6-bit groups (bit 6 = more) within [p, lim). */
static unsigned scan_varint(const uint8_t *p, const uint8_t *lim)
{
	unsigned val, shift = 0, read;

	if (p >= lim)
		return 0;
	read = *p++;
	val = read & 63;
	while ((read & 64) && p < lim && shift < 24) {
		read = *p++;
		shift += 6;
		val |= (read & 63) << shift;
	}
	return val;
}

static int scan_signed_varint(const uint8_t *p, const uint8_t *lim)
{
	unsigned uval = scan_varint(p, lim);

	return uval & 1 ? -(int)(uval >> 1) : (int)(uval >> 1);
}

enum {
	LOC_ONE_LINE0 = 10,
	LOC_ONE_LINE1 = 11,
	LOC_ONE_LINE2 = 12,
	LOC_NO_COLUMNS = 13,
	LOC_LONG = 14,
	LOC_NONE = 15,
};

static int line_delta(const uint8_t *p, const uint8_t *lim)
{
	switch ((*p >> 3) & 15) {
	case LOC_NO_COLUMNS:
	case LOC_LONG:
		return scan_signed_varint(p + 1, lim);
	case LOC_ONE_LINE1:
		return 1;
	case LOC_ONE_LINE2:
		return 2;
	default:
		return 0;
	}
}

int linetable__line_311(const uint8_t *t, size_t len, int firstlineno, int addr)
{
	const uint8_t *p = t, *lim;
	long start = -1, end = 0, line = firstlineno, ar_line = -1;

	if (addr < 0)
		return firstlineno;
	if (!t)
		return -1;
	lim = t + len;
	while (end <= addr) {
		if (p >= lim || !(*p & 128))
			return -1;
		line += line_delta(p, lim);
		/* Bound runaway deltas from garbage tables. */
		if (line < -(1L << 30) || line > (1L << 30))
			return -1;
		ar_line = (*p >> 3) == 0x1f ? -1 : line;
		start = end;
		end += ((*p & 7) + 1) * 2;
		do
			p++;
		while (p < lim && !(*p & 128));
	}
	if (start > addr)
		return -1;
	return (int)ar_line;
}
