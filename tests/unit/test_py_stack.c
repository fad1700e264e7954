// SPDX-License-Identifier: MIT
/* Python stacks read from synthetic memory images: thread state, frame
 * chain, code objects, str and bytes objects laid out at fake addresses
 * with the offsets gilwatch resolves for each pyenv CPython (3.10-3.13), so
 * the expected stack is known exactly, names in every str kind included.
 * Then the image turns hostile, as another process's memory may be: loops,
 * endless chains, garbage code objects, absurd str and bytes headers, reads
 * failing midway, shim frames. The reader must return a bounded, truncated
 * stack, never crash or spin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "elf_file.h"
#include "gilwatch.h"
#include "py_stack.h"
#include "python_build.h"
#include "pyenv_root.h"

/* Fake addresses: the image is mapped at BASE; anything else fails. */
#define BASE 0x7f3a00000000ull
#define IMG_MAX (1u << 20)
#define CODE_TYPE 0x55d0c0de0000ull /* &PyCode_Type in the fake process */
#define STR_TYPE 0x55d05a700000ull
#define BYTES_TYPE 0x55d0b1e50000ull
#define UNMAPPED 0x7f3b00000000ull

#define STATE_KIND(k) ((k) << 2)
#define STATE_COMPACT 0x20
#define STATE_ASCII 0x40

struct version {
	const char *version;
	unsigned minor;
};

static const struct version v310 = {"3.10.13", 10}, v311 = {"3.11.7", 11}, v312 = {"3.12.1", 12},
			    v313 = {"3.13.0", 13};

struct fx {
	unsigned minor;
	struct python_layout pl;
	const struct python_stack_layout *l;
	uint8_t *mem;
	uint64_t top;		 /* bump allocator, from BASE */
	uint64_t hole, hole_len; /* reads touching it fail */
	long budget;		 /* reads left before all fail; < 0: no limit */
	unsigned reads;
	struct py_reader r;
};

static int img_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fx *f = ctx;

	f->reads++;
	if (f->budget >= 0) {
		if (!f->budget)
			return -EIO;
		f->budget--;
	}
	if (addr < BASE || addr - BASE > IMG_MAX || len > IMG_MAX - (addr - BASE))
		return -EFAULT;
	if (f->hole_len && addr < f->hole + f->hole_len && addr + len > f->hole)
		return -EFAULT;
	memcpy(buf, f->mem + (addr - BASE), len);
	return 0;
}

/* The layout gilwatch resolves for the pyenv libpython of version v (for
 * 3.13: from its _Py_DebugOffsets), as for a real target.
 */
static void load_layout(const struct version *v, struct python_layout *out)
{
	char root[1024], path[1200], mm[8];
	struct python_build b;
	struct elf_file ef;

	snprintf(mm, sizeof(mm), "3.%u", v->minor);
	snprintf(path, sizeof(path), "%s/versions/%s/lib/libpython%s.so.1.0",
		 pyenv_root(root, sizeof(root)), v->version, mm);
	if (access(path, R_OK))
		fail_msg("CPython missing: %s", path);
	assert_int_equal(elf_file__open(&ef, path), 0);
	assert_int_equal(python_build__detect(&ef, path, &b), 0);
	assert_int_equal(python_build__resolve_layout(&ef, &b), 0);
	elf_file__close(&ef);
	assert_int_equal(b.layout.minor, v->minor);
	*out = b.layout;
}

static int fx_setup(void **state)
{
	const struct version *v = *state;
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->minor = v->minor;
	load_layout(v, &f->pl);
	f->l = &f->pl.stack;
	f->mem = calloc(1, IMG_MAX);
	f->budget = -1;
	f->top = 64; /* nothing at BASE itself */
	if (!f->mem || py_reader__init(&f->r, &f->pl, CODE_TYPE,
				       (struct mem_source){.read = img_read, .ctx = f}))
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	py_reader__destroy(&f->r);
	free(f->mem);
	free(f);
	return 0;
}

/* A fresh reader (empty code cache) over the same image. */
static void fresh_reader(struct fx *f, uint64_t code_type)
{
	py_reader__destroy(&f->r);
	assert_int_equal(py_reader__init(&f->r, &f->pl, code_type,
					 (struct mem_source){.read = img_read, .ctx = f}),
			 0);
}

static void *at(struct fx *f, uint64_t addr, size_t n)
{
	assert_true(addr >= BASE && addr - BASE + n <= IMG_MAX);
	return f->mem + (addr - BASE);
}

static void put64(struct fx *f, uint64_t addr, uint64_t v)
{
	memcpy(at(f, addr, 8), &v, 8);
}

static void put32(struct fx *f, uint64_t addr, uint32_t v)
{
	memcpy(at(f, addr, 4), &v, 4);
}

static uint64_t alloc(struct fx *f, size_t n)
{
	uint64_t a = BASE + f->top;

	f->top = (f->top + n + 15) & ~15ull;
	assert_true(f->top <= IMG_MAX);
	return a;
}

static uint64_t max4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t m = a > b ? a : b;

	m = c > m ? c : m;
	return d > m ? d : m;
}

/* A str object with raw header values: data (n bytes) lands where a
 * compact (ASCII or not, after the state's bit) str keeps it.
 */
static uint64_t mk_str_raw(struct fx *f, uint32_t state, uint64_t length, const void *data,
			   size_t n)
{
	const struct python_stack_layout *l = f->l;
	uint64_t off = state & STATE_ASCII ? l->unicode_ascii_data : l->unicode_compact_data;
	uint64_t s = alloc(f, off + n + 4);

	put64(f, s, 1);
	put64(f, s + 8, STR_TYPE);
	put64(f, s + l->unicode_length, length);
	put32(f, s + l->unicode_state, state);
	if (n)
		memcpy(at(f, s + off, n), data, n);
	return s;
}

/* Code points of valid UTF-8. */
static size_t utf8_decode(const char *s, uint32_t *cp, size_t max)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = 0;

	while (*p) {
		uint32_t c = *p++;
		int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;

		c &= more == 3 ? 7 : more == 2 ? 15 : more == 1 ? 31 : 127;
		while (more--)
			c = c << 6 | (*p++ & 63);
		assert_true(n < max);
		cp[n++] = c;
	}
	return n;
}

/* A str as CPython would build it: the narrowest kind that holds it. */
static uint64_t mk_str(struct fx *f, const char *utf8)
{
	uint32_t cp[1024], maxc = 0, state;
	uint8_t data[4096];
	size_t n = utf8_decode(utf8, cp, 1024), i, kind;

	for (i = 0; i < n; i++)
		maxc = cp[i] > maxc ? cp[i] : maxc;
	kind = maxc < 0x100 ? 1 : maxc < 0x10000 ? 2 : 4;
	for (i = 0; i < n; i++)
		memcpy(data + i * kind, &cp[i], kind); /* little-endian */
	state = STATE_KIND(kind) | STATE_COMPACT | (maxc < 0x80 ? STATE_ASCII : 0);
	if (f->minor == 10)
		state |= 0x80; /* ready */
	return mk_str_raw(f, state, n, data, n * kind);
}

/* A bytes object; `size` is what its header claims. */
static uint64_t mk_bytes_raw(struct fx *f, int64_t size, const void *data, size_t n)
{
	uint64_t b = alloc(f, f->l->bytes_data + n + 1);

	put64(f, b, 1);
	put64(f, b + 8, BYTES_TYPE);
	put64(f, b + f->l->bytes_size, (uint64_t)size);
	if (n)
		memcpy(at(f, b + f->l->bytes_data, n), data, n);
	return b;
}

static size_t put_svarint(uint8_t *p, int v)
{
	unsigned u = v < 0 ? ((unsigned)-v << 1) | 1 : (unsigned)v << 1;
	size_t n = 0;

	while (u >= 64) {
		p[n++] = 64 | (u & 63);
		u >>= 6;
	}
	p[n++] = u;
	return n;
}

/* The line table of code whose unit i is on line lines[i] (-1: none). */
static size_t encode_table(unsigned minor, int first, const int *lines, size_t n, uint8_t *out)
{
	size_t len = 0, i;
	int cur = first;

	for (i = 0; i < n; i++) {
		if (minor == 10) {
			out[len++] = 2;
			if (lines[i] < 0) {
				out[len++] = 0x80;
				continue;
			}
			assert_true(lines[i] - cur >= -127 && lines[i] - cur <= 127);
			out[len++] = (uint8_t)(int8_t)(lines[i] - cur);
		} else {
			if (lines[i] < 0) {
				out[len++] = 0x80 | 15 << 3; /* no location */
				continue;
			}
			out[len++] = 0x80 | 13 << 3; /* no columns, one unit */
			len += put_svarint(out + len, lines[i] - cur);
		}
		cur = lines[i];
	}
	return len;
}

static uint64_t code_size(struct fx *f, size_t units)
{
	const struct python_stack_layout *l = f->l;
	uint64_t m = max4(l->code_filename, l->code_name, l->code_qualname, l->code_linetable);

	m = max4(m, l->code_firstlineno, 0, 0) + 8;
	if (f->minor >= 11 && l->code_adaptive + 2 * units > m)
		m = l->code_adaptive + 2 * units;
	return m;
}

/* A code object; its table is given, or built from lines[]. */
static uint64_t mk_code_table(struct fx *f, const char *name, const char *qualname,
			      const char *file, int first, uint64_t table, size_t units)
{
	const struct python_stack_layout *l = f->l;
	uint64_t c = alloc(f, code_size(f, units));

	put64(f, c, 1);
	put64(f, c + 8, CODE_TYPE);
	put64(f, c + l->code_name, mk_str(f, name));
	if (f->minor >= 11)
		put64(f, c + l->code_qualname, mk_str(f, qualname));
	put64(f, c + l->code_filename, mk_str(f, file));
	put32(f, c + l->code_firstlineno, first);
	put64(f, c + l->code_linetable, table);
	return c;
}

static uint64_t mk_code(struct fx *f, const char *name, const char *qualname, const char *file,
			int first, const int *lines, size_t units)
{
	uint8_t t[4096];
	size_t n = encode_table(f->minor, first, lines, units, t);

	return mk_code_table(f, name, qualname, file, first, mk_bytes_raw(f, n, t, n), units);
}

/* A simple code object: units 0..9 on lines first+1..first+10. */
static uint64_t mk_simple_code(struct fx *f, const char *name, int first)
{
	int lines[10], i;

	for (i = 0; i < 10; i++)
		lines[i] = first + 1 + i;
	return mk_code(f, name, name, "/srv/app/simple.py", first, lines, 10);
}

/* The frame's instruction field for code unit `unit` (-1: not started):
 * f_lasti on 3.10, a pointer into the code object's instructions after.
 */
static uint64_t instr_of(struct fx *f, uint64_t code, int unit)
{
	if (f->minor == 10)
		return (uint32_t)unit;
	return code + f->l->code_adaptive + (int64_t)unit * 2;
}

static uint64_t mk_frame_raw(struct fx *f, uint64_t code, uint64_t instr, uint64_t prev,
			     uint8_t owner)
{
	const struct python_stack_layout *l = f->l;
	uint64_t fr =
	    alloc(f, max4(l->frame_previous, l->frame_code, l->frame_instr, l->frame_owner) + 8);

	put64(f, fr + l->frame_previous, prev);
	put64(f, fr + l->frame_code, code);
	if (f->minor == 10)
		put32(f, fr + l->frame_instr, (uint32_t)instr);
	else
		put64(f, fr + l->frame_instr, instr);
	if (f->minor >= 11)
		*(uint8_t *)at(f, fr + l->frame_owner, 1) = owner;
	return fr;
}

static uint64_t mk_frame(struct fx *f, uint64_t code, int unit, uint64_t prev)
{
	return mk_frame_raw(f, code, instr_of(f, code, unit), prev, 0);
}

/* A thread state whose current frame is `frame`, through a _PyCFrame on
 * 3.11 and 3.12.
 */
static uint64_t mk_tstate(struct fx *f, uint64_t frame)
{
	const struct python_stack_layout *l = f->l;
	uint64_t ts = alloc(f, l->tstate_frame + 8);

	if (l->frame_via_cframe) {
		uint64_t cf = alloc(f, l->cframe_current_frame + 8);

		put64(f, cf + l->cframe_current_frame, frame);
		put64(f, ts + l->tstate_frame, cf);
	} else {
		put64(f, ts + l->tstate_frame, frame);
	}
	return ts;
}

static void expect_frame(const struct py_frame *fr, uint64_t code, const char *function,
			 const char *file, int line)
{
	assert_int_equal(fr->code, code);
	assert_string_equal(fr->function, function);
	assert_string_equal(fr->file, file);
	assert_int_equal(fr->line, line);
}

/* The name shown for a code object: co_name on 3.10, co_qualname after. */
static const char *shown(struct fx *f, const char *name, const char *qualname)
{
	return f->minor >= 11 ? qualname : name;
}

static void test_stack(void **state)
{
	struct fx *f = *state;
	static const int l_main[] = {1, 1, 2, 3, 5}, l_meth[] = {10, 11, 12, -1, 14},
			 l_latin[] = {20, 21}, l_ucs2[] = {30, 31}, l_ucs4[] = {40, 41};
	uint64_t c_main, c_meth, c_latin, c_ucs2, c_ucs4, fr, ts, cur;
	struct py_stack st;
	unsigned reads;
	int pass;

	c_main = mk_code(f, "<module>", "<module>", "/srv/app/main.py", 1, l_main, 5);
	c_meth = mk_code(f, "method", "Klass.method", "/srv/app/main.py", 10, l_meth, 5);
	c_latin = mk_code(f, "café", "Crème.café", "/srv/app/naïve.py", 20, l_latin, 2);
	c_ucs2 = mk_code(f, "函数", "类.函数", "/srv/модуль/模块.py", 30, l_ucs2, 2);
	c_ucs4 = mk_code(f, "𝒻𝓊𝓃𝒸", "<locals>.𝒻𝓊𝓃𝒸", "/srv/🐍/𝓂𝑜𝒹.py", 40, l_ucs4, 2);
	/* Built outermost first. From the innermost: a frame not started
	 * yet (its first line), UCS2 and latin1 names, a unit without a
	 * line, the same code object again, the module.
	 */
	fr = mk_frame(f, c_main, 3, 0);
	fr = mk_frame(f, c_meth, 2, fr);
	fr = mk_frame(f, c_meth, 3, fr);
	fr = mk_frame(f, c_latin, 1, fr);
	fr = mk_frame(f, c_ucs2, 0, fr);
	fr = mk_frame(f, c_ucs4, -1, fr);
	ts = mk_tstate(f, fr);

	assert_int_equal(py_reader__current_frame(&f->r, ts, &cur), 0);
	assert_int_equal(cur, fr);
	for (pass = 0; pass < 2; pass++) {
		f->reads = 0;
		memset(&st, 0xa5, sizeof(st));
		assert_int_equal(py_reader__stack(&f->r, cur, &st), 0);
		assert_int_equal(st.n, 6);
		assert_int_equal(st.truncated, 0);
		expect_frame(&st.f[0], c_ucs4, shown(f, "𝒻𝓊𝓃𝒸", "<locals>.𝒻𝓊𝓃𝒸"), "/srv/🐍/𝓂𝑜𝒹.py",
			     40);
		expect_frame(&st.f[1], c_ucs2, shown(f, "函数", "类.函数"), "/srv/модуль/模块.py",
			     30);
		expect_frame(&st.f[2], c_latin, shown(f, "café", "Crème.café"), "/srv/app/naïve.py",
			     21);
		expect_frame(&st.f[3], c_meth, shown(f, "method", "Klass.method"),
			     "/srv/app/main.py", -1);
		expect_frame(&st.f[4], c_meth, shown(f, "method", "Klass.method"),
			     "/srv/app/main.py", 12);
		expect_frame(&st.f[5], c_main, "<module>", "/srv/app/main.py", 3);
		/* The second walk finds every code object in the cache. */
		if (pass)
			assert_true(f->reads < reads);
		reads = f->reads;
	}
}

static void test_strings(void **state)
{
	struct fx *f = *state;
	static const uint16_t surrogate[] = {'a', 0xd800, 'b', 0x4e2d};
	static const uint32_t beyond[] = {'x', 0x110000, 0x10ffff};
	uint32_t ucs2 = STATE_KIND(2) | STATE_COMPACT, ucs4 = STATE_KIND(4) | STATE_COMPACT;
	uint32_t ascii = STATE_KIND(1) | STATE_COMPACT | STATE_ASCII;
	char buf[PY_FUNCTION_LEN], big[5000];
	uint64_t s;

	assert_int_equal(py_reader__string(&f->r, mk_str(f, "plain"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "plain");
	assert_int_equal(py_reader__string(&f->r, mk_str(f, ""), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(py_reader__string(&f->r, mk_str(f, "ÿé"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ÿé");
	assert_int_equal(py_reader__string(&f->r, mk_str(f, "ĀČ中"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ĀČ中");
	assert_int_equal(py_reader__string(&f->r, mk_str(f, "a😀\U0010ffff"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a😀\U0010ffff");

	/* Whole characters only: "éé" is 4 bytes, the third é would need 6. */
	s = mk_str(f, "ééé");
	assert_int_equal(py_reader__string(&f->r, s, buf, 6), 0);
	assert_string_equal(buf, "éé");
	assert_int_equal(py_reader__string(&f->r, s, buf, 1), 0);
	assert_string_equal(buf, "");
	assert_int_equal(py_reader__string(&f->r, s, buf, 0), -EINVAL);
	s = mk_str(f, "😀😀");
	assert_int_equal(py_reader__string(&f->r, s, buf, 8), 0);
	assert_string_equal(buf, "😀");
	/* Longer than the buffer: cut to len - 1 bytes. */
	memset(big, 'q', sizeof(big));
	big[1000] = '\0';
	assert_int_equal(py_reader__string(&f->r, mk_str(f, big), buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);

	/* No UTF-8 for lone surrogates and values past U+10FFFF. */
	s = mk_str_raw(f, ucs2, 4, surrogate, sizeof(surrogate));
	assert_int_equal(py_reader__string(&f->r, s, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a?b中");
	s = mk_str_raw(f, ucs4, 3, beyond, sizeof(beyond));
	assert_int_equal(py_reader__string(&f->r, s, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x?\U0010ffff");

	/* Headers no compact str has. */
	assert_int_equal(
	    py_reader__string(&f->r,
			      mk_str_raw(f, STATE_KIND(3) | STATE_COMPACT, 4, "abcdefghijkl", 12),
			      buf, sizeof(buf)),
	    -EPROTO);
	assert_int_equal(
	    py_reader__string(&f->r, mk_str_raw(f, STATE_KIND(0) | STATE_COMPACT, 4, "abcd", 4),
			      buf, sizeof(buf)),
	    -EPROTO);
	assert_int_equal(
	    py_reader__string(&f->r, mk_str_raw(f, STATE_KIND(7) | STATE_COMPACT, 4, "abcd", 4),
			      buf, sizeof(buf)),
	    -EPROTO);
	assert_int_equal(
	    py_reader__string(&f->r, mk_str_raw(f, STATE_KIND(1), 4, "abcd", 4), buf, sizeof(buf)),
	    -EPROTO);
	assert_int_equal(py_reader__string(&f->r, mk_str_raw(f, ucs2 | STATE_ASCII, 2, "abcd", 4),
					   buf, sizeof(buf)),
			 -EPROTO);
	assert_int_equal(
	    py_reader__string(&f->r, mk_str_raw(f, ascii, 1ull << 40, "abcd", 4), buf, sizeof(buf)),
	    -EPROTO);
	assert_int_equal(
	    py_reader__string(&f->r, mk_str_raw(f, ascii, 1ull << 32, "abcd", 4), buf, sizeof(buf)),
	    -EPROTO);
	assert_string_equal(buf, "");
	/* Just under 2^32: reads only what the buffer holds. */
	s = mk_str_raw(f, ucs4, 0xffffffffull, big, 1024);
	assert_int_equal(py_reader__string(&f->r, s, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	/* ... and fails cleanly where the memory ends. */
	s = BASE + IMG_MAX - f->l->unicode_ascii_data - 8;
	memcpy(f->mem + (s - BASE), f->mem + (mk_str_raw(f, ascii, 0xffffffffull, "", 0) - BASE),
	       f->l->unicode_ascii_data);
	assert_int_equal(py_reader__string(&f->r, s, buf, sizeof(buf)), -EFAULT);
	/* Unreadable objects. */
	assert_int_equal(py_reader__string(&f->r, 0, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(py_reader__string(&f->r, UNMAPPED, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(py_reader__string(&f->r, UINT64_MAX - 8, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(py_reader__string(&f->r, BASE + IMG_MAX - 4, buf, sizeof(buf)), -EFAULT);
}

/* A stack whose frames are all code objects named by their depth. */
static uint64_t mk_chain(struct fx *f, unsigned depth, uint64_t *codes)
{
	uint64_t fr = 0;
	unsigned i;

	for (i = depth; i-- > 0;) {
		char name[16];

		snprintf(name, sizeof(name), "f%u", i);
		codes[i] = mk_simple_code(f, name, 100 * (i + 1));
		fr = mk_frame(f, codes[i], i % 10, fr);
	}
	return fr;
}

static void expect_chain(const struct py_stack *st, const uint64_t *codes, unsigned n)
{
	unsigned i;

	assert_true(st->n >= n);
	for (i = 0; i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%u", i);
		expect_frame(&st->f[i], codes[i], name, "/srv/app/simple.py",
			     100 * (i + 1) + 1 + i % 10);
	}
}

static void test_depth(void **state)
{
	struct fx *f = *state;
	static const unsigned depths[] = {1, PY_STACK_DEPTH - 1, PY_STACK_DEPTH, PY_STACK_DEPTH + 1,
					  3 * PY_STACK_DEPTH};
	uint64_t codes[3 * PY_STACK_DEPTH], fr;
	struct py_stack st;
	size_t i;

	for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		unsigned d = depths[i];

		f->top = 64;
		memset(f->mem, 0, IMG_MAX);
		fresh_reader(f, CODE_TYPE);
		fr = mk_chain(f, d, codes);
		assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
		assert_int_equal(st.n, d < PY_STACK_DEPTH ? d : PY_STACK_DEPTH);
		assert_int_equal(st.truncated, d > PY_STACK_DEPTH);
		expect_chain(&st, codes, st.n);
	}
}

static void test_loop(void **state)
{
	struct fx *f = *state;
	uint64_t a_code = mk_simple_code(f, "a", 10), b_code = mk_simple_code(f, "b", 20);
	uint64_t a = mk_frame(f, a_code, 1, 0), b = mk_frame(f, b_code, 2, a), self;
	struct py_stack st;
	unsigned i;

	put64(f, a + f->l->frame_previous, b); /* a -> b -> a */
	assert_int_equal(py_reader__stack(&f->r, a, &st), 0);
	assert_int_equal(st.n, PY_STACK_DEPTH);
	assert_int_equal(st.truncated, 1);
	for (i = 0; i < st.n; i++)
		assert_string_equal(st.f[i].function, i % 2 ? "b" : "a");

	self = mk_frame(f, a_code, 0, 0);
	put64(f, self + f->l->frame_previous, self);
	assert_int_equal(py_reader__stack(&f->r, self, &st), 0);
	assert_int_equal(st.n, PY_STACK_DEPTH);
	assert_int_equal(st.truncated, 1);
	assert_int_equal(st.f[PY_STACK_DEPTH - 1].line, 11);
}

/* A 3-frame stack whose middle frame's code object is `bad`: one frame and
 * a truncated flag come out.
 */
static void expect_cut_at_bad_code(struct fx *f, uint64_t bad, const char *what)
{
	uint64_t top = mk_simple_code(f, "top", 10), out = mk_simple_code(f, "out", 30);
	uint64_t fr = mk_frame(f, out, 0, 0);
	struct py_stack st;

	fr = mk_frame_raw(f, bad, instr_of(f, bad, 0), fr, 0);
	fr = mk_frame(f, top, 4, fr);
	memset(&st, 0, sizeof(st));
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	if (st.n != 1 || !st.truncated)
		fail_msg("%s: %u frames, truncated %u; want 1, truncated", what, st.n,
			 st.truncated);
	expect_frame(&st.f[0], top, "top", "/srv/app/simple.py", 15);
}

static void test_bad_code(void **state)
{
	struct fx *f = *state;
	const struct python_stack_layout *l = f->l;
	uint64_t garbage = alloc(f, 4096), c, s, b;
	uint32_t ascii = STATE_KIND(1) | STATE_COMPACT | STATE_ASCII;
	uint8_t t[64];
	struct py_stack st;

	memset(at(f, garbage, 4096), 0xa5, 4096);
	expect_cut_at_bad_code(f, 0, "NULL code");
	expect_cut_at_bad_code(f, UNMAPPED, "unmapped code");
	expect_cut_at_bad_code(f, garbage, "garbage code");
	expect_cut_at_bad_code(f, BASE + IMG_MAX - 16, "code at the end of memory");

	/* Wrong ob_type: refused while PyCode_Type's address is known. */
	c = mk_simple_code(f, "impostor", 50);
	put64(f, c + 8, STR_TYPE);
	expect_cut_at_bad_code(f, c, "wrong ob_type");

	/* Names that are not strs. */
	c = mk_simple_code(f, "x", 50);
	put64(f, c + (f->minor >= 11 ? l->code_qualname : l->code_name),
	      mk_str_raw(f, STATE_KIND(3) | STATE_COMPACT, 4, "abcdefgh", 8));
	expect_cut_at_bad_code(f, c, "name of kind 3");
	c = mk_simple_code(f, "x", 50);
	put64(f, c + l->code_filename, mk_str_raw(f, ascii, 1ull << 40, "abc", 3));
	expect_cut_at_bad_code(f, c, "file name of length 2^40");
	c = mk_simple_code(f, "x", 50);
	put64(f, c + l->code_filename, garbage);
	expect_cut_at_bad_code(f, c, "file name is garbage");

	/* Line tables of impossible sizes. */
	memset(t, 0x80 | 13 << 3, sizeof(t));
	c = mk_simple_code(f, "x", 50);
	put64(f, c + l->code_linetable, mk_bytes_raw(f, -1, t, sizeof(t)));
	expect_cut_at_bad_code(f, c, "bytes of size -1");
	c = mk_simple_code(f, "x", 50);
	put64(f, c + l->code_linetable, mk_bytes_raw(f, INT64_MIN, t, sizeof(t)));
	expect_cut_at_bad_code(f, c, "bytes of size INT64_MIN");
	c = mk_simple_code(f, "x", 50);
	put64(f, c + l->code_linetable, mk_bytes_raw(f, 1ll << 62, t, sizeof(t)));
	expect_cut_at_bad_code(f, c, "bytes of size 2^62");
	c = mk_simple_code(f, "x", 50);
	put64(f, c + l->code_linetable, mk_bytes_raw(f, 64 * 1024 + 1, t, sizeof(t)));
	expect_cut_at_bad_code(f, c, "bytes of 64 KiB + 1");
	c = mk_simple_code(f, "x", 50);
	put64(f, c + l->code_linetable, UNMAPPED);
	expect_cut_at_bad_code(f, c, "unmapped bytes");

	/* An empty table is a table: the frame is there, its line unknown. */
	c = mk_simple_code(f, "empty", 50);
	put64(f, c + l->code_linetable, mk_bytes_raw(f, 0, NULL, 0));
	b = mk_frame(f, c, 3, 0);
	assert_int_equal(py_reader__stack(&f->r, b, &st), 0);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.truncated, 0);
	expect_frame(&st.f[0], c, "empty", "/srv/app/simple.py", -1);

	/* PyCode_Type unknown (0): the type is not checked. */
	c = mk_simple_code(f, "untyped", 50);
	put64(f, c + 8, STR_TYPE);
	s = mk_frame(f, c, 0, 0);
	fresh_reader(f, 0);
	assert_int_equal(py_reader__stack(&f->r, s, &st), 0);
	assert_int_equal(st.n, 1);
	expect_frame(&st.f[0], c, "untyped", "/srv/app/simple.py", 51);
	expect_cut_at_bad_code(f, garbage, "garbage code, type unchecked");
}

/* A table larger than what can be read: only its first bytes (what an
 * event's copy holds) are decoded, and the next walk looks again.
 */
static void test_partial_table(void **state)
{
	struct fx *f = *state;
	const struct python_stack_layout *l = f->l;
	static int lines[1000];
	uint8_t t[4096];
	uint64_t c, b, fr_early, fr_late;
	size_t n, i, prefix = GW_LINETABLE_BYTES - l->bytes_data;
	struct py_stack st;

	for (i = 0; i < 1000; i++)
		lines[i] = 1001 + i;
	n = encode_table(f->minor, 1000, lines, 1000, t);
	assert_int_equal(n, 2000); /* two bytes a unit */
	b = mk_bytes_raw(f, n, t, n);
	c = mk_code_table(f, "big", "big", "/srv/app/big.py", 1000, b, 1000);
	fr_late = mk_frame(f, c, 500, 0);
	fr_early = mk_frame(f, c, 100, fr_late);
	f->hole = b + l->bytes_data + prefix;
	f->hole_len = 16;
	assert_true(prefix / 2 > 100 && prefix / 2 < 500);

	assert_int_equal(py_reader__stack(&f->r, fr_early, &st), 0);
	assert_int_equal(st.n, 2);
	expect_frame(&st.f[0], c, "big", "/srv/app/big.py", 1101);
	expect_frame(&st.f[1], c, "big", "/srv/app/big.py", -1);

	f->hole_len = 0;
	assert_int_equal(py_reader__stack(&f->r, fr_early, &st), 0);
	assert_int_equal(st.n, 2);
	expect_frame(&st.f[0], c, "big", "/srv/app/big.py", 1101);
	expect_frame(&st.f[1], c, "big", "/srv/app/big.py", 1501);
}

static void test_read_failure(void **state)
{
	struct fx *f = *state;
	uint64_t codes[8], fr = mk_chain(f, 8, codes), third, ts = mk_tstate(f, fr), cur;
	struct py_stack full, st;
	unsigned total, budget, i;
	int err;

	assert_int_equal(py_reader__stack(&f->r, fr, &full), 0);
	assert_int_equal(full.n, 8);
	expect_chain(&full, codes, 8);

	/* The third frame unreadable. */
	third = fr;
	for (i = 0; i < 2; i++)
		memcpy(&third, f->mem + (third + f->l->frame_previous - BASE), 8);
	f->hole = third;
	f->hole_len = 8;
	fresh_reader(f, CODE_TYPE);
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	assert_int_equal(st.n, 2);
	assert_int_equal(st.truncated, 1);
	expect_chain(&st, codes, 2);
	/* Not even the first. */
	f->hole = fr;
	assert_true(py_reader__stack(&f->r, fr, &st) < 0);
	assert_int_equal(st.n, 0);
	f->hole_len = 0;

	/* Every read from the k-th on fails: always a prefix of the stack. */
	f->reads = 0;
	fresh_reader(f, CODE_TYPE);
	assert_int_equal(py_reader__current_frame(&f->r, ts, &cur), 0);
	assert_int_equal(py_reader__stack(&f->r, cur, &st), 0);
	total = f->reads;
	for (budget = 0; budget <= total; budget++) {
		fresh_reader(f, CODE_TYPE);
		f->budget = budget;
		err = py_reader__current_frame(&f->r, ts, &cur);
		if (err) {
			f->budget = -1;
			continue;
		}
		assert_int_equal(cur, fr);
		memset(&st, 0xa5, sizeof(st));
		err = py_reader__stack(&f->r, cur, &st);
		f->budget = -1;
		if (err) {
			assert_int_equal(st.n, 0);
			continue;
		}
		assert_true(st.n <= full.n);
		expect_chain(&st, codes, st.n);
		assert_int_equal(st.truncated, st.n < full.n);
		if (budget == total)
			assert_int_equal(st.n, full.n);
	}
}

/* 3.12+: frames owned by the C stack (entry shims) are no Python code. */
static void test_shim_frames(void **state)
{
	struct fx *f = *state;
	uint64_t a = mk_simple_code(f, "a", 10), b = mk_simple_code(f, "b", 20);
	uint64_t c = mk_simple_code(f, "c", 30), shim = mk_simple_code(f, "<shim>", 1), fr;
	struct py_stack st;
	unsigned i, n;

	fr = mk_frame(f, c, 0, 0);
	fr = mk_frame_raw(f, shim, instr_of(f, shim, 0), fr, 3);
	fr = mk_frame_raw(f, shim, instr_of(f, shim, 0), fr, 3);
	fr = mk_frame(f, b, 0, fr);
	fr = mk_frame_raw(f, shim, instr_of(f, shim, 0), fr, 3);
	fr = mk_frame(f, a, 0, fr);
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	assert_int_equal(st.truncated, 0);
	if (f->minor >= 12) {
		assert_int_equal(st.n, 3);
		assert_string_equal(st.f[0].function, "a");
		assert_string_equal(st.f[1].function, "b");
		assert_string_equal(st.f[2].function, "c");
	} else {
		/* 3.11 has no shim frames: owner 3 means nothing special. */
		assert_int_equal(st.n, 6);
		assert_string_equal(st.f[1].function, "<shim>");
	}

	/* A chain of shims only, or a loop of one: the walk still ends. */
	fr = 0;
	for (i = 0; i < 5 * PY_STACK_DEPTH; i++)
		fr = mk_frame_raw(f, shim, instr_of(f, shim, 0), fr, 3);
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	n = f->minor >= 12 ? 0 : PY_STACK_DEPTH;
	assert_int_equal(st.n, n);
	assert_int_equal(st.truncated, 1);
	put64(f, fr + f->l->frame_previous, fr);
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	assert_int_equal(st.n, n);
	assert_int_equal(st.truncated, 1);
}

/* Instruction fields that point anywhere: a line or -1, never a crash. */
static void test_instr_bounds(void **state)
{
	struct fx *f = *state;
	uint64_t c = mk_simple_code(f, "c", 100);
	struct py_frame fr;

	assert_int_equal(py_reader__frame(&f->r, c, instr_of(f, c, 4), &fr), 0);
	expect_frame(&fr, c, "c", "/srv/app/simple.py", 105);
	/* Not started: the first line. */
	assert_int_equal(py_reader__frame(&f->r, c, instr_of(f, c, -1), &fr), 0);
	assert_int_equal(fr.line, 100);
	/* Past the table. */
	assert_int_equal(py_reader__frame(&f->r, c, instr_of(f, c, 10), &fr), 0);
	assert_int_equal(fr.line, -1);
	assert_int_equal(py_reader__frame(&f->r, c, instr_of(f, c, 5000), &fr), 0);
	assert_int_equal(fr.line, -1);
	assert_int_equal(py_reader__frame(&f->r, c, instr_of(f, c, 1 << 29), &fr), 0);
	assert_int_equal(fr.line, -1);
	if (f->minor >= 11) {
		assert_int_equal(py_reader__frame(&f->r, c, 0, &fr), 0);
		assert_int_equal(fr.line, -1);
		assert_int_equal(py_reader__frame(&f->r, c, UINT64_MAX, &fr), 0);
		assert_int_equal(fr.line, -1);
		assert_int_equal(py_reader__frame(&f->r, c, c, &fr), 0);
		assert_int_equal(fr.line, -1);
		/* An odd pointer: the unit it falls in. */
		assert_int_equal(py_reader__frame(&f->r, c, instr_of(f, c, 2) + 1, &fr), 0);
		assert_int_equal(fr.line, 103);
	}
	assert_true(py_reader__frame(&f->r, UNMAPPED, 0, &fr) < 0);
}

/* An f_lasti (3.10) or instruction pointer of garbage, far past any code:
 * the line is unknown (-1), not the function's first line. On 3.10 an
 * f_lasti >= 2^30 doubles to a byte offset >= 2^31 that py_reader__frame()
 * passes to linetable__line_310()'s int parameter: it wraps negative and
 * reads as "not started yet", so the first line comes out.
 */
static void test_garbage_instr(void **state)
{
	struct fx *f = *state;
	static const int units[] = {1 << 30, (1 << 30) + 1, INT_MAX};
	uint64_t c = mk_simple_code(f, "c", 100);
	struct py_frame fr;
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		assert_int_equal(py_reader__frame(&f->r, c, instr_of(f, c, units[i]), &fr), 0);
		if (fr.line != -1)
			fail_msg("3.%u: instruction unit %d of a 10-unit code object: line %d, "
				 "want -1",
				 f->minor, units[i], fr.line);
	}
}

static void test_current_frame(void **state)
{
	struct fx *f = *state;
	const struct python_stack_layout *l = f->l;
	uint64_t ts = mk_tstate(f, 0), cur = 1, cf;
	struct py_stack st;

	/* A thread running no Python code. */
	assert_int_equal(py_reader__current_frame(&f->r, ts, &cur), 0);
	assert_int_equal(cur, 0);
	memset(&st, 0xa5, sizeof(st));
	assert_int_equal(py_reader__stack(&f->r, 0, &st), 0);
	assert_int_equal(st.n, 0);
	assert_int_equal(st.truncated, 0);
	if (l->frame_via_cframe) {
		memcpy(&cf, f->mem + (ts + l->tstate_frame - BASE), 8);
		put64(f, ts + l->tstate_frame, 0);
		assert_int_equal(py_reader__current_frame(&f->r, ts, &cur), 0);
		assert_int_equal(cur, 0);
		put64(f, ts + l->tstate_frame, UNMAPPED);
		assert_true(py_reader__current_frame(&f->r, ts, &cur) < 0);
	}
	assert_true(py_reader__current_frame(&f->r, 0, &cur) < 0);
	assert_true(py_reader__current_frame(&f->r, UNMAPPED, &cur) < 0);
	assert_true(py_reader__current_frame(&f->r, UINT64_MAX - 4, &cur) < 0);
}

/* A code address reused for another code object, or freed: the cache must
 * not answer with the old one.
 */
static void test_cache_refresh(void **state)
{
	struct fx *f = *state;
	const struct python_stack_layout *l = f->l;
	static const int lines[] = {7, 8, 9};
	uint64_t c = mk_code(f, "old", "old", "/old.py", 6, lines, 3);
	uint64_t fr = mk_frame(f, c, 1, 0);
	struct py_stack st;

	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	expect_frame(&st.f[0], c, "old", "/old.py", 8);
	put64(f, c + (f->minor >= 11 ? l->code_qualname : l->code_name), mk_str(f, "new"));
	put64(f, c + l->code_filename, mk_str(f, "/new.py"));
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	expect_frame(&st.f[0], c, "new", "/new.py", 8);
	put32(f, c + l->code_firstlineno, 106);
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	expect_frame(&st.f[0], c, "new", "/new.py", 108);
	put64(f, c + 8, 0); /* freed */
	assert_int_equal(py_reader__stack(&f->r, fr, &st), 0);
	assert_int_equal(st.n, 0);
	assert_int_equal(st.truncated, 1);
}

/* Each test once per version, named "test/3.x". */
/* clang-format off */
#define VT(fn, v, name) {#fn "/" name, fn, fx_setup, fx_teardown, (void *)&v}
#define ALL(fn)                                                                                    \
	VT(fn, v310, "3.10"), VT(fn, v311, "3.11"), VT(fn, v312, "3.12"), VT(fn, v313, "3.13")
/* clang-format on */

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ALL(test_stack),	     ALL(test_strings),	      ALL(test_depth),
	    ALL(test_loop),	     ALL(test_bad_code),      ALL(test_partial_table),
	    ALL(test_read_failure),  ALL(test_shim_frames),   ALL(test_instr_bounds),
	    ALL(test_garbage_instr), ALL(test_current_frame), ALL(test_cache_refresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
