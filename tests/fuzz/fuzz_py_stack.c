// SPDX-License-Identifier: MIT
/* libFuzzer harness for the Python stack reader: the input is a memory
 * image of "another process", as hostile as it likes, read through a
 * mem_source where everything outside the image fails. Reading the thread's
 * frame, the stack (twice: the second walk goes through the code cache), a
 * string and a frame must not crash (ASan, UBSan), leak, or take long, and
 * must give a bounded stack of NUL-terminated, valid UTF-8 names.
 *
 * Input: byte 0: bits 0-1 and 4 the layout (3.10 + n modulo 6: 3.10-3.12
 * from python_build.c's table, 3.13-3.15 from the _Py_DebugOffsets of
 * Debian unstable's builds), bit 2 check code objects' ob_type, bit 3 the
 * start is a thread state (else a frame); u32 start offset; u32 offset of
 * "PyCode_Type"; then the image, mapped at IMG_BASE. Offsets are
 * little-endian, from IMG_BASE.
 *
 * With GW_FUZZ_SEEDS=dir, the binary writes valid images for each layout
 * there and exits: seeds that follow the layouts gilwatch actually uses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elf_file.h"
#include "py_stack.h"
#include "python_build.h"

#define IMG_BASE 0x100000ull
#define HDR 9
#define F_CODE_TYPE 4
#define F_TSTATE 8
#define F_LAYOUT_HIGH 16
#define LAYOUTS 6

static struct python_layout layouts[LAYOUTS];

static unsigned layout_of(uint8_t flags)
{
	return ((flags & 3) | (flags & F_LAYOUT_HIGH ? 4 : 0)) % LAYOUTS;
}

static uint8_t layout_flags(unsigned v)
{
	return (v & 3) | (v & 4 ? F_LAYOUT_HIGH : 0);
}

struct image {
	const uint8_t *p;
	size_t len;
};

static int img_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct image *im = ctx;

	if (addr < IMG_BASE || addr - IMG_BASE > im->len || len > im->len - (addr - IMG_BASE))
		return -EFAULT;
	memcpy(buf, im->p + (addr - IMG_BASE), len);
	return 0;
}

/* NUL within cap, and shortest-form UTF-8 of scalar values. */
static void check_utf8(const char *s, size_t cap)
{
	const uint8_t *p = (const uint8_t *)s, *end;

	end = memchr(p, '\0', cap);
	if (!end)
		abort();
	while (p < end) {
		uint32_t c = *p++, min;
		int more;

		if (c < 0x80)
			more = 0, min = 0;
		else if (c >= 0xc2 && c < 0xe0)
			more = 1, c &= 0x1f, min = 0x80;
		else if (c >= 0xe0 && c < 0xf0)
			more = 2, c &= 0x0f, min = 0x800;
		else if (c >= 0xf0 && c < 0xf5)
			more = 3, c &= 0x07, min = 0x10000;
		else
			abort();
		if (end - p < more)
			abort();
		while (more--) {
			if ((*p & 0xc0) != 0x80)
				abort();
			c = c << 6 | (*p++ & 63);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000))
			abort();
	}
}

static void check_stack(const struct py_stack *st)
{
	unsigned i;

	if (st->n > PY_STACK_DEPTH || st->truncated > 1)
		abort();
	for (i = 0; i < st->n; i++) {
		check_utf8(st->f[i].function, sizeof(st->f[i].function));
		check_utf8(st->f[i].file, sizeof(st->f[i].file));
	}
}

static uint32_t u32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct py_stack st;
	struct image im;
	uint64_t start, other, frame;
	struct py_reader r;
	struct py_frame fr;
	char small[5], buf[PY_FILE_LEN];
	int pass;

	if (size < HDR)
		return 0;
	im = (struct image){data + HDR, size - HDR};
	start = IMG_BASE + u32_at(data + 1);
	other = IMG_BASE + u32_at(data + 5);
	if (py_reader__init(&r, &layouts[layout_of(data[0])], data[0] & F_CODE_TYPE ? other : 0,
			    (struct mem_source){.read = img_read, .ctx = &im}))
		abort();
	frame = start;
	if (data[0] & F_TSTATE && py_reader__current_frame(&r, start, &frame))
		frame = 0;
	for (pass = 0; pass < 2; pass++) {
		memset(&st, 0xa5, sizeof(st));
		if (py_reader__stack(&r, frame, &st))
			st.n = 0;
		check_stack(&st);
	}
	if (!py_reader__string(&r, start, buf, sizeof(buf)))
		check_utf8(buf, sizeof(buf));
	if (!py_reader__string(&r, other, small, sizeof(small)))
		check_utf8(small, sizeof(small));
	if (!py_reader__frame(&r, frame, other, &fr)) {
		check_utf8(fr.function, sizeof(fr.function));
		check_utf8(fr.file, sizeof(fr.file));
	}
	py_reader__destroy(&r);
	return 0;
}

/* Seed images: a thread state, its frames, code objects, strs of each kind
 * and line tables, at the offsets of one layout.
 */
struct seed {
	uint8_t img[4096];
	size_t top;
	const struct python_layout *pl;
};

static uint64_t s_alloc(struct seed *s, size_t n)
{
	uint64_t a = IMG_BASE + s->top;

	s->top = (s->top + n + 15) & ~(size_t)15;
	if (s->top > sizeof(s->img))
		abort();
	return a;
}

static void s_put(struct seed *s, uint64_t addr, const void *v, size_t n)
{
	memcpy(s->img + (addr - IMG_BASE), v, n);
}

static void s_put64(struct seed *s, uint64_t addr, uint64_t v)
{
	s_put(s, addr, &v, 8);
}

/* cp[]: code points, all below 2^(8 kind). */
static uint64_t s_str(struct seed *s, const uint32_t *cp, size_t n, unsigned kind)
{
	const struct python_stack_layout *l = &s->pl->stack;
	uint32_t state = kind << 2 | 0x20, maxc = 0;
	uint64_t o, len = n;
	size_t i;

	for (i = 0; i < n; i++)
		maxc = cp[i] > maxc ? cp[i] : maxc;
	if (maxc < 0x80)
		state |= 0x40;
	o = s_alloc(s, l->unicode_compact_data + (n + 1) * kind);
	s_put64(s, o, 1);
	s_put64(s, o + l->unicode_length, len);
	s_put(s, o + l->unicode_state, &state, 4);
	for (i = 0; i < n; i++)
		s_put(s,
		      o + (maxc < 0x80 ? l->unicode_ascii_data : l->unicode_compact_data) +
			  i * kind,
		      &cp[i], kind);
	return o;
}

static uint64_t s_ascii(struct seed *s, const char *a)
{
	uint32_t cp[64];
	size_t i;

	for (i = 0; a[i]; i++)
		cp[i] = (uint8_t)a[i];
	return s_str(s, cp, i, 1);
}

/* A code object whose n units are on lines first+1.., one with none. */
static uint64_t s_code(struct seed *s, uint64_t code_type, uint64_t name, uint64_t file, int first,
		       unsigned n)
{
	const struct python_stack_layout *l = &s->pl->stack;
	uint8_t t[64];
	size_t len = 0, i;
	uint64_t c, b;

	for (i = 0; i < n; i++) {
		int none = i == 2;

		if (s->pl->minor == 10) {
			t[len++] = 2;
			t[len++] = none ? 0x80 : 1;
		} else {
			t[len++] = none ? 0xf8 : 0xe8;
			if (!none)
				t[len++] = 2; /* +1 */
		}
	}
	b = s_alloc(s, l->bytes_data + len + 1);
	s_put64(s, b + l->bytes_size, len);
	s_put(s, b + l->bytes_data, t, len);
	c = s_alloc(s, l->code_adaptive + 2 * n + 160);
	s_put64(s, c, 1);
	s_put64(s, c + 8, code_type);
	s_put64(s, c + l->code_name, name);
	if (s->pl->minor >= 11)
		s_put64(s, c + l->code_qualname, name);
	s_put64(s, c + l->code_filename, file);
	s_put(s, c + l->code_firstlineno, &first, 4);
	s_put64(s, c + l->code_linetable, b);
	return c;
}

static uint64_t s_frame(struct seed *s, uint64_t code, unsigned unit, uint64_t prev, uint8_t owner)
{
	const struct python_stack_layout *l = &s->pl->stack;
	uint64_t f = s_alloc(s, 128);

	s_put64(s, f + l->frame_previous, prev);
	/* 3.14+: a tagged reference (a deferred one has bit 0 set). */
	s_put64(s, f + l->frame_code, l->frame_code_tagged ? code | 1 : code);
	if (s->pl->minor == 10) {
		uint32_t lasti = unit;

		s_put(s, f + l->frame_instr, &lasti, 4);
	} else {
		s_put64(s, f + l->frame_instr, code + l->code_adaptive + 2 * unit);
		s_put(s, f + l->frame_owner, &owner, 1);
	}
	return f;
}

/* Writes the input, after checking it gives the stack it was built for. */
static void write_seed(const char *dir, const char *name, uint8_t flags, uint64_t start,
		       uint64_t other, const struct seed *s, unsigned want_n)
{
	static uint8_t in[HDR + sizeof(s->img)];
	struct image im = {s->img, s->top};
	struct py_stack st;
	struct py_reader r;
	char path[4096];
	uint32_t v;
	uint64_t frame = start;
	FILE *f;

	in[0] = flags;
	v = start - IMG_BASE;
	memcpy(in + 1, &v, 4);
	v = other - IMG_BASE;
	memcpy(in + 5, &v, 4);
	memcpy(in + HDR, s->img, s->top);

	if (py_reader__init(&r, s->pl, flags & F_CODE_TYPE ? other : 0,
			    (struct mem_source){.read = img_read, .ctx = &im}) ||
	    (flags & F_TSTATE && py_reader__current_frame(&r, start, &frame)) ||
	    py_reader__stack(&r, frame, &st) || st.n != want_n || st.truncated ||
	    strcmp(st.f[0].function, "\xf0\x9d\x92\xbb\xf0\x9d\x93\x8ax\xf0\x9f\x90\x8d") ||
	    strcmp(st.f[1].function, "caf\xc3\xa9") || st.f[0].line != 32 || st.f[1].line != -1 ||
	    st.f[want_n - 1].line != 14) {
		fprintf(stderr, "seed %s does not decode as built\n", name);
		abort();
	}
	py_reader__destroy(&r);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(in, 1, HDR + s->top, f) != HDR + s->top || fclose(f))
		abort();
}

static void write_seeds(const char *dir)
{
	static const uint32_t latin1[] = {'c', 'a', 'f', 0xe9},
			      ucs2[] = {0x51fd, 0x6570, '_', 0x4e2d},
			      ucs4[] = {0x1d4bb, 0x1d4ca, 'x', 0x1f40d};
	unsigned v, n;

	for (v = 0; v < LAYOUTS; v++) {
		static struct seed s;
		const struct python_stack_layout *l = &layouts[v].stack;
		uint64_t code_type, ts, cf, a, b, c, shim, fr;
		char name[32];

		memset(&s, 0, sizeof(s));
		s.pl = &layouts[v];
		s.top = 16;
		code_type = s_alloc(&s, 16);
		ts = s_alloc(&s, l->tstate_frame + 8);
		a = s_code(&s, code_type, s_ascii(&s, "main"), s_ascii(&s, "/app/main.py"), 10, 6);
		b = s_code(&s, code_type, s_str(&s, latin1, 4, 1), s_str(&s, ucs2, 4, 2), 20, 4);
		c = s_code(&s, code_type, s_str(&s, ucs4, 4, 4), s_ascii(&s, "/app/m.py"), 30, 4);
		shim = s_code(&s, code_type, s_ascii(&s, "<shim>"), s_ascii(&s, "<shim>"), 1, 1);
		fr = s_frame(&s, a, 4, 0, 0);
		fr = s_frame(&s, shim, 0, fr, 3);
		fr = s_frame(&s, b, 2, fr, 0);
		fr = s_frame(&s, c, 1, fr, 0);
		if (l->frame_via_cframe) {
			cf = s_alloc(&s, l->cframe_current_frame + 8);
			s_put64(&s, cf + l->cframe_current_frame, fr);
			s_put64(&s, ts + l->tstate_frame, cf);
		} else {
			s_put64(&s, ts + l->tstate_frame, fr);
		}
		/* 3.12+ skip the shim frame. */
		n = layouts[v].minor >= 12 ? 3 : 4;
		snprintf(name, sizeof(name), "tstate-3.%u", layouts[v].minor);
		write_seed(dir, name, layout_flags(v) | F_CODE_TYPE | F_TSTATE, ts, code_type, &s,
			   n);
		snprintf(name, sizeof(name), "frame-3.%u", layouts[v].minor);
		write_seed(dir, name, layout_flags(v), fr, c, &s, n);
	}
}

/* The layouts gilwatch uses: 3.10-3.12 from its table (this binary stands
 * in for a build), 3.13+ from real builds' _Py_DebugOffsets.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const builds[LAYOUTS] = {"/proc/self/exe",
						    "/proc/self/exe",
						    "/proc/self/exe",
						    GW_SID_ROOT "/usr/bin/python3.13",
						    GW_SID_ROOT "/usr/bin/python3.14",
						    GW_SID_ROOT "/usr/bin/python3.15"};
	const char *seeds = getenv("GW_FUZZ_SEEDS");
	struct elf_file ef;
	unsigned i;

	for (i = 0; i < LAYOUTS; i++) {
		struct python_build b = {.major = 3, .minor = 10 + i};

		if (elf_file__open(&ef, builds[i]))
			abort();
		if (python_build__resolve_layout(&ef, &b) || b.layout.minor != 10 + i)
			abort();
		layouts[i] = b.layout;
		elf_file__close(&ef);
	}
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}
