// SPDX-License-Identifier: MIT
#include <math.h>

#include "json_writer.h"

void jw_init(struct json_writer *w, FILE *out)
{
	w->out = out;
	w->depth = 0;
	w->has_members = 0;
}

/* Length of the valid UTF-8 sequence at s, 0 if invalid (overlong forms,
 * surrogates and truncated sequences included): names from the target are
 * cut at 15 bytes, possibly inside a character.
 */
static int utf8_len(const unsigned char *s)
{
	int n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void write_string(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', out);
	while (*s) {
		unsigned char c = *s;
		int n;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else if (c >= 0x80) {
			n = utf8_len(s);
			if (n) {
				fwrite(s, 1, n, out);
				s += n;
				continue;
			}
			fputs("\\ufffd", out);
		} else
			fputc(c, out);
		s++;
	}
	fputc('"', out);
}

static void member(struct json_writer *w, const char *key)
{
	if (w->depth > 0 && w->depth <= JW_MAX_DEPTH) {
		uint64_t bit = 1ull << (w->depth - 1);

		if (w->has_members & bit)
			fputc(',', w->out);
		w->has_members |= bit;
	}
	if (key) {
		write_string(w->out, key);
		fputc(':', w->out);
	}
}

static void open_scope(struct json_writer *w, const char *key, char c)
{
	member(w, key);
	fputc(c, w->out);
	if (w->depth < JW_MAX_DEPTH)
		w->has_members &= ~(1ull << w->depth);
	w->depth++;
}

void jw_object_begin(struct json_writer *w, const char *key)
{
	open_scope(w, key, '{');
}

void jw_array_begin(struct json_writer *w, const char *key)
{
	open_scope(w, key, '[');
}

void jw_object_end(struct json_writer *w)
{
	w->depth--;
	fputc('}', w->out);
}

void jw_array_end(struct json_writer *w)
{
	w->depth--;
	fputc(']', w->out);
}

void jw_str(struct json_writer *w, const char *key, const char *val)
{
	member(w, key);
	write_string(w->out, val);
}

void jw_u64(struct json_writer *w, const char *key, uint64_t val)
{
	member(w, key);
	fprintf(w->out, "%llu", (unsigned long long)val);
}

void jw_bool(struct json_writer *w, const char *key, bool val)
{
	member(w, key);
	fputs(val ? "true" : "false", w->out);
}

void jw_double(struct json_writer *w, const char *key, double val)
{
	member(w, key);
	/* JSON has no NaN or infinity. */
	if (isfinite(val))
		fprintf(w->out, "%.6g", val);
	else
		fputs("null", w->out);
}

void jw_line_end(struct json_writer *w)
{
	jw_object_end(w);
	fputc('\n', w->out);
	fflush(w->out);
}
