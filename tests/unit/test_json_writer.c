// SPDX-License-Identifier: MIT
/* The JSON Lines writer, byte for byte, through open_memstream.
 *
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_writer.h"

struct sink {
	FILE *f;
	char *buf;
	size_t len;
	struct json_writer w;
};

static int sink_setup(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->f = open_memstream(&s->buf, &s->len);
	if (!s->f) {
		free(s);
		return -1;
	}
	jw_init(&s->w, s->f);
	*state = s;
	return 0;
}

static int sink_teardown(void **state)
{
	struct sink *s = *state;

	fclose(s->f);
	free(s->buf);
	free(s);
	return 0;
}

/* Everything written so far. */
static const char *sink_text(struct sink *s)
{
	fflush(s->f);
	return s->buf;
}

static void test_flat_line(void **state)
{
	struct sink *s = *state;

	jw_object_begin(&s->w, NULL);
	jw_str(&s->w, "event", "gc");
	jw_u64(&s->w, "pid", 4242);
	jw_u64(&s->w, "max", UINT64_MAX);
	jw_u64(&s->w, "zero", 0);
	jw_line_end(&s->w);
	assert_string_equal(s->buf, /* jw_line_end flushes by itself */
			    "{\"event\":\"gc\",\"pid\":4242,\"max\":18446744073709551615,"
			    "\"zero\":0}\n");
	assert_int_equal(s->len, strlen(s->buf));
	assert_int_equal(s->w.depth, 0);
}

static void test_nested(void **state)
{
	struct sink *s = *state;

	jw_object_begin(&s->w, NULL);
	jw_str(&s->w, "event", "stats");
	jw_object_begin(&s->w, "probes");
	jw_object_begin(&s->w, "gc");
	jw_str(&s->w, "method", "usdt");
	jw_object_end(&s->w);
	jw_object_begin(&s->w, "take_gil");
	jw_object_end(&s->w);
	jw_object_end(&s->w);
	jw_array_begin(&s->w, "threads");
	jw_object_begin(&s->w, NULL);
	jw_u64(&s->w, "tid", 1);
	jw_array_begin(&s->w, "hist");
	jw_u64(&s->w, NULL, 0);
	jw_u64(&s->w, NULL, 3);
	jw_array_end(&s->w);
	jw_object_end(&s->w);
	jw_object_begin(&s->w, NULL);
	jw_u64(&s->w, "tid", 2);
	jw_object_end(&s->w);
	jw_array_end(&s->w);
	jw_array_begin(&s->w, "empty");
	jw_array_end(&s->w);
	jw_array_begin(&s->w, "names");
	jw_str(&s->w, NULL, "a");
	jw_array_begin(&s->w, NULL);
	jw_array_end(&s->w);
	jw_str(&s->w, NULL, "b");
	jw_array_end(&s->w);
	jw_u64(&s->w, "last", 9);
	jw_line_end(&s->w);
	assert_string_equal(s->buf, "{\"event\":\"stats\","
				    "\"probes\":{\"gc\":{\"method\":\"usdt\"},\"take_gil\":{}},"
				    "\"threads\":[{\"tid\":1,\"hist\":[0,3]},{\"tid\":2}],"
				    "\"empty\":[],"
				    "\"names\":[\"a\",[],\"b\"],"
				    "\"last\":9}\n");
	assert_int_equal(s->w.depth, 0);
}

/* The same writer, reused: each line starts afresh (no leading comma). */
static void test_two_lines(void **state)
{
	struct sink *s = *state;
	int i;

	for (i = 1; i <= 2; i++) {
		jw_object_begin(&s->w, NULL);
		jw_u64(&s->w, "n", i);
		jw_array_begin(&s->w, "a");
		jw_u64(&s->w, NULL, i);
		jw_array_end(&s->w);
		jw_line_end(&s->w);
	}
	assert_string_equal(s->buf, "{\"n\":1,\"a\":[1]}\n{\"n\":2,\"a\":[2]}\n");
}

static void test_escaping(void **state)
{
	struct sink *s = *state;

	jw_object_begin(&s->w, NULL);
	jw_str(&s->w, "q", "say \"hi\"");
	jw_str(&s->w, "bs", "C:\\dir\\");
	jw_str(&s->w, "nl", "a\nb");
	jw_str(&s->w, "tab", "a\tb");
	jw_str(&s->w, "ctl", "\x01\x1f\r\b");
	jw_str(&s->w, "del", "x\x7fy");
	jw_str(&s->w, "utf8", "caf\xc3\xa9 \xe2\x9c\x93");
	jw_str(&s->w, "empty", "");
	jw_str(&s->w, "k\"\n", "v");
	jw_line_end(&s->w);
	assert_string_equal(s->buf, "{\"q\":\"say \\\"hi\\\"\","
				    "\"bs\":\"C:\\\\dir\\\\\","
				    "\"nl\":\"a\\nb\","
				    "\"tab\":\"a\\tb\","
				    "\"ctl\":\"\\u0001\\u001f\\u000d\\u0008\","
				    "\"del\":\"x\\u007fy\","
				    "\"utf8\":\"caf\xc3\xa9 \xe2\x9c\x93\","
				    "\"empty\":\"\","
				    "\"k\\\"\\n\":\"v\"}\n");
}

/* Thread names are cut at 15 bytes, maybe inside a character: invalid
 * UTF-8 becomes U+FFFD, never bytes that break a JSON parser.
 */
static void test_invalid_utf8(void **state)
{
	struct sink *s = *state;

	jw_object_begin(&s->w, NULL);
	jw_str(&s->w, "cut", "w\xc3\xb6rker-\xc3");
	jw_str(&s->w, "lone",
	       "a\x80"
	       "b\xff"
	       "c");
	jw_str(&s->w, "overlong", "\xc0\xafx");
	jw_str(&s->w, "surrogate", "\xed\xa0\x80");
	jw_str(&s->w, "four", "\xf0\x9f\x98\x80");
	jw_line_end(&s->w);
	assert_string_equal(s->buf, "{\"cut\":\"w\xc3\xb6rker-\\ufffd\","
				    "\"lone\":\"a\\ufffdb\\ufffdc\","
				    "\"overlong\":\"\\ufffd\\ufffdx\","
				    "\"surrogate\":\"\\ufffd\\ufffd\\ufffd\","
				    "\"four\":\"\xf0\x9f\x98\x80\"}\n");
}

static void test_doubles(void **state)
{
	struct sink *s = *state;

	jw_object_begin(&s->w, NULL);
	jw_double(&s->w, "half", 0.5);
	jw_double(&s->w, "zero", 0.0);
	jw_double(&s->w, "neg", -2.25);
	jw_double(&s->w, "share", 1.0 / 3.0);
	jw_double(&s->w, "nan", NAN);
	jw_double(&s->w, "inf", INFINITY);
	jw_double(&s->w, "ninf", -INFINITY);
	jw_array_begin(&s->w, "a");
	jw_double(&s->w, NULL, NAN);
	jw_double(&s->w, NULL, 1.0);
	jw_array_end(&s->w);
	jw_line_end(&s->w);
	assert_string_equal(s->buf, "{\"half\":0.5,\"zero\":0,\"neg\":-2.25,\"share\":0.333333,"
				    "\"nan\":null,\"inf\":null,\"ninf\":null,"
				    "\"a\":[null,1]}\n");
}

static void test_line_end(void **state)
{
	struct sink *s = *state;

	jw_object_begin(&s->w, NULL);
	assert_string_equal(sink_text(s), "{");
	jw_line_end(&s->w);
	assert_string_equal(s->buf, "{}\n");
	assert_int_equal(s->len, 3);
	assert_int_equal(s->buf[s->len - 1], '\n');
}

/* Deep nesting keeps its commas (an 8-level limit once wrote "[12]"). */
#define DEEP 12
static void test_deep_nesting(void **state)
{
	struct sink *s = *state;
	char expect[128];
	int i, n = 0;

	for (i = 0; i < DEEP; i++)
		jw_array_begin(&s->w, NULL);
	jw_u64(&s->w, NULL, 1);
	jw_u64(&s->w, NULL, 2);
	for (i = 0; i < DEEP; i++)
		jw_array_end(&s->w);
	for (i = 0; i < DEEP; i++)
		n += snprintf(expect + n, sizeof(expect) - n, "[");
	n += snprintf(expect + n, sizeof(expect) - n, "1,2");
	for (i = 0; i < DEEP; i++)
		n += snprintf(expect + n, sizeof(expect) - n, "]");
	assert_string_equal(sink_text(s), expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_flat_line, sink_setup, sink_teardown),
	    cmocka_unit_test_setup_teardown(test_nested, sink_setup, sink_teardown),
	    cmocka_unit_test_setup_teardown(test_two_lines, sink_setup, sink_teardown),
	    cmocka_unit_test_setup_teardown(test_escaping, sink_setup, sink_teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_utf8, sink_setup, sink_teardown),
	    cmocka_unit_test_setup_teardown(test_doubles, sink_setup, sink_teardown),
	    cmocka_unit_test_setup_teardown(test_line_end, sink_setup, sink_teardown),
	    cmocka_unit_test_setup_teardown(test_deep_nesting, sink_setup, sink_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
