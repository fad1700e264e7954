/* SPDX-License-Identifier: MIT */
/* Minimal streaming JSON writer for JSON Lines output. */
#ifndef GW_JSON_WRITER_H
#define GW_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Nesting deeper than this is written without commas: gilwatch's own
 * records nest at most 4 levels.
 */
#define JW_MAX_DEPTH 64

struct json_writer {
	FILE *out;
	int depth;
	uint64_t has_members; /* bit d: the scope at depth d has a member */
};

/* key is NULL inside arrays and for the top-level object. */
void jw_object_begin(struct json_writer *w, const char *key);
void jw_object_end(struct json_writer *w);
void jw_array_begin(struct json_writer *w, const char *key);
void jw_array_end(struct json_writer *w);
void jw_str(struct json_writer *w, const char *key, const char *val);
void jw_u64(struct json_writer *w, const char *key, uint64_t val);
void jw_bool(struct json_writer *w, const char *key, bool val);
void jw_double(struct json_writer *w, const char *key, double val);
/* Ends the top-level object with a newline and flushes (one JSON line). */
void jw_line_end(struct json_writer *w);
void jw_init(struct json_writer *w, FILE *out);

#endif
