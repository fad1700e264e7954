// SPDX-License-Identifier: MIT
#include <math.h>

#include "json_writer.h"

void jw_init(struct json_writer *w, FILE *out)
{
	w->out = out;
	w->depth = 0;
	w->has_members = 0;
}

static void write_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
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
