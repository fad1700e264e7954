// SPDX-License-Identifier: MIT
/* Line table decoders against CPython itself: every pyenv interpreter
 * (3.10-3.13) compiles a sample module at test time and reports, for every
 * byte offset of every code object, the line PyCode_Addr2Line() gives and
 * the one co_positions() (3.11+) or co_lines() (3.10) gives; the decoders
 * must agree at each offset, also just before and past the code. Real tables
 * are then cut at every length and placed against a PROT_NONE page, since
 * tables come from another process's memory and may be truncated (a copy
 * taken at an event holds only the first bytes): an overread faults. Plus
 * hand-assembled tables for each entry kind and malformed ones.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "linetable.h"
#include "pyenv_root.h"

/* Offsets the oracle reports: [-PRE, nbytes + POST). */
#define PRE 3
#define POST 5
#define GUARD_MAX (64 * 1024)

/* Results of garbage tables: any value, as long as the call returns. */
static volatile int sink;

typedef int (*decoder_fn)(const uint8_t *t, size_t len, int firstlineno, int addr);

/* Prints, per code object of a sample module, "C name firstlineno nbytes
 * hextable", then the line of each byte offset -3..nbytes+4 from
 * PyCode_Addr2Line() ("A") and from co_positions()/co_lines() ("P").
 */
/* clang-format off */
static const char oracle_py[] =
	"import ctypes, sys\n"
	"a2l = ctypes.pythonapi.PyCode_Addr2Line\n"
	"a2l.argtypes = [ctypes.py_object, ctypes.c_int]\n"
	"a2l.restype = ctypes.c_int\n"
	"src = '''\n"
	"import functools\n"
	"def loops(n):\n"
	"    t = 0\n"
	"    for i in range(n):\n"
	"        if i % 3 == 0:\n"
	"            continue\n"
	"        while t < i:\n"
	"            t += 1\n"
	"            if t > 100:\n"
	"                break\n"
	"        else:\n"
	"            t -= 1\n"
	"    return t\n"
	"def tries(x):\n"
	"    try:\n"
	"        y = 1 / x\n"
	"    except ZeroDivisionError as e:\n"
	"        y = 0\n"
	"    except (TypeError,\n"
	"            ValueError):\n"
	"        raise\n"
	"    else:\n"
	"        y += 1\n"
	"    finally:\n"
	"        x = None\n"
	"    with open(\"/dev/null\") as f, open(\n"
	"            \"/dev/null\") as g:\n"
	"        pass\n"
	"    return y\n"
	"def multi(a,\n"
	"          b):\n"
	"    return (a +\n"
	"            b *\n"
	"            functools.reduce(lambda p, q: p + q,\n"
	"                             [a, b,\n"
	"                              a * b],\n"
	"                             0)) if a else {\n"
	"        \"k\": [b\n"
	"              for b in range(3)\n"
	"              if b],\n"
	"    }\n"
	"@functools.lru_cache(\n"
	"    maxsize=None)\n"
	"@staticmethod\n"
	"def decorated(x): return x + 1\n"
	"def outer(x):\n"
	"    y = 2\n"
	"    def inner(z):\n"
	"        nonlocal y\n"
	"        def innermost():\n"
	"            return y + z\n"
	"        return innermost()\n"
	"    return inner(x)\n"
	"f = lambda x: (x,\n"
	"               x + 1)\n"
	"def gen(n):\n"
	"    for i in range(n):\n"
	"        yield i\n"
	"        x = yield from range(i)\n"
	"    return (j * 2 for j in\n"
	"            range(n))\n"
	"async def coro(a):\n"
	"    await a\n"
	"    async with a as b:\n"
	"        async for c in b:\n"
	"            pass\n"
	"class K:\n"
	"    attr = [i for i in range(3)]\n"
	"    def method(self): return super().method()\n"
	"def wide(x):\n"
	"    return x + 1 if x else x + 2 if x else x + 3 if x else x + 4 if x else x\n"
	"'''\n"
	"# One line of > 254 bytecode bytes, line jumps of > 127 and > 2**13\n"
	"# lines, a body of > 300 lines.\n"
	"src += 'def oneline(a): return ' + '+'.join('a*%d' % i for i in range(120))\n"
	"src += '\\ndef gap(a):\\n a += 1\\n' + '\\n' * 200 + ' a += 2\\n'\n"
	"src += '\\n' * 9000 + ' return a\\ndef long(x):\\n'\n"
	"src += ''.join(' x += %d\\n%s' % (i, '\\n' * (i % 7 == 0)) for i in range(350))\n"
	"src = '\\n' * 40 + src + ' return x\\n'\n"
	"def walk(co):\n"
	"    yield co\n"
	"    for c in co.co_consts:\n"
	"        if hasattr(c, 'co_code'):\n"
	"            yield from walk(c)\n"
	"for co in walk(compile(src, 'sample.py', 'exec')):\n"
	"    n = len(co.co_code)\n"
	"    ref = {}\n"
	"    if sys.version_info >= (3, 11):\n"
	"        for i, pos in enumerate(co.co_positions()):\n"
	"            ref[2 * i] = ref[2 * i + 1] = pos[0]\n"
	"    else:\n"
	"        for s, e, l in co.co_lines():\n"
	"            ref.update((o, l) for o in range(s, e))\n"
	"    ref.update((o, co.co_firstlineno) for o in range(-3, 0))\n"
	"    print('C', co.co_name, co.co_firstlineno, n, co.co_linetable.hex() or '-')\n"
	"    print('A', *[a2l(co, o) for o in range(-3, n + 5)])\n"
	"    print('P', *[-1 if ref.get(o) is None else ref[o] for o in range(-3, n + 5)])\n";
/* clang-format on */

struct code_case {
	char name[64];
	int firstlineno;
	int nbytes;
	uint8_t *table;
	size_t len;
	int *a2l; /* [PRE + offset]: PyCode_Addr2Line() */
	int *pos; /* co_positions() / co_lines() */
};

/* A buffer whose end touches a PROT_NONE page: a read past a table placed
 * at its end faults instead of passing silently.
 */
static uint8_t *guard_map;
static size_t guard_data;

static int guard_setup(void **state)
{
	long page = sysconf(_SC_PAGESIZE);

	guard_data = GUARD_MAX;
	guard_map = mmap(NULL, guard_data + page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_map == MAP_FAILED)
		return -1;
	return mprotect(guard_map + guard_data, page, PROT_NONE);
}

static int guard_teardown(void **state)
{
	munmap(guard_map, guard_data + sysconf(_SC_PAGESIZE));
	return 0;
}

static const uint8_t *guarded(const uint8_t *t, size_t len)
{
	uint8_t *p;

	assert_true(len <= guard_data);
	p = guard_map + guard_data - len;
	if (len)
		memcpy(p, t, len);
	return p;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses n ints after the tag of an "A"/"P" line. */
static int *parse_ints(const char *line, char tag, int n)
{
	int *v = calloc(n, sizeof(*v));
	const char *p = line + 1;
	char *end;
	int i;

	assert_non_null(v);
	assert_int_equal(line[0], tag);
	for (i = 0; i < n; i++) {
		long x = strtol(p, &end, 10);

		assert_true(end != p);
		v[i] = (int)x;
		p = end;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	assert_int_equal(*p, '\0');
	return v;
}

/* Runs the oracle script under one interpreter; the interpreter must exist
 * (a missing one fails the test: the comparison is the point).
 */
static size_t load_cases(const char *version, struct code_case **out)
{
	char root[1024], py[1200], script[] = "/tmp/gw-linetable-XXXXXX", cmd[1400];
	char minor[8], *line = NULL;
	struct code_case *cases = NULL;
	size_t n = 0, cap = 0, linecap = 0;
	FILE *f;
	int fd;

	snprintf(minor, sizeof(minor), "%.*s", (int)(strrchr(version, '.') - version), version);
	snprintf(py, sizeof(py), "%s/versions/%s/bin/python%s", pyenv_root(root, sizeof(root)),
		 version, minor);
	if (access(py, X_OK))
		fail_msg("interpreter missing: %s", py);
	fd = mkstemp(script);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, oracle_py, strlen(oracle_py)), (ssize_t)strlen(oracle_py));
	close(fd);
	snprintf(cmd, sizeof(cmd), "'%s' -I '%s'", py, script);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (getline(&line, &linecap, f) > 0) {
		struct code_case *c;
		char *hexs;
		size_t i;

		assert_int_equal(line[0], 'C');
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			cases = realloc(cases, cap * sizeof(*cases));
			assert_non_null(cases);
		}
		c = &cases[n++];
		memset(c, 0, sizeof(*c));
		hexs = calloc(1, strlen(line));
		assert_non_null(hexs);
		assert_int_equal(
		    sscanf(line, "C %63s %d %d %s", c->name, &c->firstlineno, &c->nbytes, hexs), 4);
		c->len = strcmp(hexs, "-") ? strlen(hexs) / 2 : 0;
		c->table = malloc(c->len + 1);
		assert_non_null(c->table);
		for (i = 0; i < c->len; i++) {
			int hi = hexval(hexs[2 * i]), lo = hexval(hexs[2 * i + 1]);

			assert_true(hi >= 0 && lo >= 0);
			c->table[i] = hi << 4 | lo;
		}
		free(hexs);
		assert_true(getline(&line, &linecap, f) > 0);
		c->a2l = parse_ints(line, 'A', PRE + c->nbytes + POST);
		assert_true(getline(&line, &linecap, f) > 0);
		c->pos = parse_ints(line, 'P', PRE + c->nbytes + POST);
	}
	free(line);
	assert_int_equal(pclose(f), 0);
	unlink(script);
	*out = cases;
	return n;
}

static void free_cases(struct code_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(cases[i].table);
		free(cases[i].a2l);
		free(cases[i].pos);
	}
	free(cases);
}

static const struct code_case *find_case(const struct code_case *cases, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	fail_msg("no code object '%s' in the oracle's output", name);
	return NULL;
}

/* Bytecode bytes fully described by the first `cut` bytes of a table:
 * complete entries only (3.10: pairs; 3.11+: an entry ends where the next
 * byte with the top bit set starts). *at_boundary: the cut falls between
 * entries, so nothing past the covered range may get a line.
 */
static long covered_bytes(const uint8_t *t, size_t len, size_t cut, int v310, int *at_boundary)
{
	long covered = 0;
	size_t i, j;

	if (v310) {
		for (i = 0; i + 1 < cut; i += 2)
			covered += t[i];
		*at_boundary = 1; /* a lone trailing byte is no entry */
		return covered;
	}
	*at_boundary = cut == 0 || cut == len || (t[cut] & 128);
	for (i = 0; i < cut && (t[i] & 128);) {
		for (j = i + 1; j < len && !(t[j] & 128); j++)
			;
		if (j > cut)
			break;
		covered += ((t[i] & 7) + 1) * 2;
		i = j;
	}
	return covered;
}

/* Every offset of every code object, then every prefix of every table. */
static void check_version(const char *version, decoder_fn decode, int v310)
{
	static const char *const names[] = {"<module>",	 "loops", "tries", "multi",	"<lambda>",
					    "decorated", "outer", "inner", "innermost", "gen",
					    "<genexpr>", "coro",  "K",	   "method",	"wide",
					    "oneline",	 "gap",	  "long"};
	struct code_case *cases;
	size_t n, i, checked = 0, cuts = 0;

	n = load_cases(version, &cases);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		find_case(cases, n, names[i]);
	/* The > 300 line body and the 9000-line jump make big tables. */
	assert_true(find_case(cases, n, "long")->len > 700);
	assert_true(find_case(cases, n, "long")->firstlineno > 9000);

	for (i = 0; i < n; i++) {
		const struct code_case *c = &cases[i];
		const uint8_t *t = guarded(c->table, c->len);
		int o;

		for (o = -PRE; o < c->nbytes + POST; o++) {
			int want = c->a2l[PRE + o], got;

			if (c->pos[PRE + o] != want)
				fail_msg("%s %s+%d: PyCode_Addr2Line %d, co_positions/co_lines %d",
					 version, c->name, o, want, c->pos[PRE + o]);
			got = decode(t, c->len, c->firstlineno, o);
			if (got != want)
				fail_msg(
				    "%s %s (first line %d) offset %d: line %d, CPython says %d",
				    version, c->name, c->firstlineno, o, got, want);
			checked++;
		}
	}

	for (i = 0; i < n; i++) {
		const struct code_case *c = &cases[i];
		size_t cut, step;

		for (cut = 0; cut <= c->len; cut += step) {
			const uint8_t *t = guarded(c->table, cut);
			int probes[16], k, boundary;
			long cov = covered_bytes(c->table, c->len, cut, v310, &boundary);

			step = cut < 400 ? 1 : 7;
			probes[0] = -1, probes[1] = 0, probes[2] = cov - 2, probes[3] = cov - 1;
			probes[4] = cov, probes[5] = cov + 1, probes[6] = c->nbytes - 1;
			probes[7] = c->nbytes, probes[8] = INT_MAX;
			for (k = 9; k < 16; k++)
				probes[k] = (int)((long)c->nbytes * (k - 9) / 7);
			for (k = 0; k < 16; k++) {
				int a = probes[k], got = decode(t, cut, c->firstlineno, a);

				if (a < 0) {
					assert_int_equal(got, c->firstlineno);
				} else if (a < cov && a < c->nbytes + POST) {
					if (got != c->a2l[PRE + a])
						fail_msg("%s %s cut at %zu/%zu, offset %d: line "
							 "%d, want %d",
							 version, c->name, cut, c->len, a, got,
							 c->a2l[PRE + a]);
				} else if (boundary) {
					if (got != -1)
						fail_msg("%s %s cut at %zu/%zu, offset %d past the "
							 "covered %ld: line %d, want -1",
							 version, c->name, cut, c->len, a, cov,
							 got);
				}
			}
			cuts++;
		}
	}
	print_message("%s: %zu code objects, %zu offsets, %zu truncated tables\n", version, n,
		      checked, cuts);
	free_cases(cases, n);
}

static void test_cpython_310(void **state)
{
	check_version("3.10.13", linetable__line_310, 1);
}

static void test_cpython_311(void **state)
{
	check_version("3.11.7", linetable__line_311, 0);
}

static void test_cpython_312(void **state)
{
	check_version("3.12.1", linetable__line_311, 0);
}

static void test_cpython_313(void **state)
{
	check_version("3.13.0", linetable__line_311, 0);
}

static int line310(const uint8_t *t, size_t len, int first, int addr)
{
	return linetable__line_310(guarded(t, len), len, first, addr);
}

static int line311(const uint8_t *t, size_t len, int first, int addr)
{
	return linetable__line_311(guarded(t, len), len, first, addr);
}

static void test_310_entries(void **state)
{
	/* [0,4) +1, [4,10) +2, [10,12) no line, empty pair +5, [12,22) -3 */
	static const uint8_t t[] = {4, 1, 6, 2, 2, 0x80, 0, 5, 10, (uint8_t)-3};
	static const struct {
		int addr, line;
	} want[] = {{-5, 10}, {-1, 10}, {0, 11},  {3, 11},  {4, 13},	{9, 13},      {10, -1},
		    {11, -1}, {12, 15}, {21, 15}, {22, -1}, {1000, -1}, {INT_MAX, -1}};
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(line310(t, sizeof(t), 10, want[i].addr), want[i].line);
	/* A lone trailing byte is not an entry. */
	assert_int_equal(line310(t, 3, 10, 4), -1);
	assert_int_equal(line310(t, 3, 10, 3), 11);
	/* Bytecode deltas are unsigned: 255 is 255, not -1. */
	assert_int_equal(line310((const uint8_t[]){255, 7, 1, 1}, 4, 0, 254), 7);
	assert_int_equal(line310((const uint8_t[]){255, 7, 1, 1}, 4, 0, 255), 8);
	/* Line deltas are signed: 0x81 is -127. */
	assert_int_equal(line310((const uint8_t[]){2, 0x81}, 2, 200, 0), 73);
}

static void test_310_empty_and_garbage(void **state)
{
	uint8_t big[4096];
	size_t i;

	assert_int_equal(line310(NULL, 0, 7, -1), 7);
	assert_int_equal(line310((const uint8_t *)"", 0, 7, 0), -1);
	assert_int_equal(line310((const uint8_t[]){0}, 1, 7, 0), -1);
	/* Only zero-length entries: nothing covers any offset. */
	memset(big, 0, sizeof(big));
	assert_int_equal(line310(big, sizeof(big), 7, 0), -1);
	/* Every line delta +127, from INT_MAX - 10 too: a result, no trap. */
	for (i = 0; i < sizeof(big); i += 2)
		big[i] = 2, big[i + 1] = 127;
	assert_int_equal(line310(big, sizeof(big), 5, 0), 132);
	sink = line310(big, sizeof(big), INT_MAX - 10, (int)sizeof(big) - 2);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	for (i = 0; i < 3000; i += 3)
		sink = line310(big, i, 1, (int)(i * 7 % 5000));
}

/* Location table entry builders (Objects/locations.md). */
static size_t put_varint(uint8_t *p, unsigned v)
{
	size_t n = 0;

	while (v >= 64) {
		p[n++] = 64 | (v & 63);
		v >>= 6;
	}
	p[n++] = v;
	return n;
}

static size_t put_svarint(uint8_t *p, int v)
{
	return put_varint(p, v < 0 ? ((unsigned)-v << 1) | 1 : (unsigned)v << 1);
}

static size_t entry(uint8_t *p, unsigned code, unsigned units, int ldelta)
{
	size_t n = 0;

	p[n++] = 0x80 | code << 3 | (units - 1);
	switch (code) {
	case 15: /* no location */
		break;
	case 14: /* long: line delta, end line delta, column + 1, end column + 1 */
		n += put_svarint(p + n, ldelta);
		n += put_varint(p + n, 3);
		n += put_varint(p + n, 200);
		n += put_varint(p + n, 5);
		break;
	case 13: /* no columns */
		n += put_svarint(p + n, ldelta);
		break;
	case 10: /* one line: start and end column bytes */
	case 11:
	case 12:
		p[n++] = 4;
		p[n++] = 9;
		break;
	default: /* short form: one column byte */
		p[n++] = 0x15;
		break;
	}
	return n;
}

static void test_311_entries(void **state)
{
	uint8_t t[256];
	size_t n = 0;
	static const struct {
		int addr, line;
	} want[] = {{-2, 100},	{0, 105},   {3, 105},	{4, 106},   {5, 106}, {6, -1},
		    {7, -1},	{8, 108},   {10, 58},	{12, 58},   {27, 58}, {28, 58},
		    {30, 5058}, {32, 5057}, {34, 5059}, {35, 5059}, {36, -1}, {INT_MAX, -1}};
	size_t i;

	n += entry(t + n, 13, 2, 5);	/* [0,4) 105 */
	n += entry(t + n, 11, 1, 0);	/* [4,6) 106 */
	n += entry(t + n, 15, 1, 0);	/* [6,8) none, line stays */
	n += entry(t + n, 12, 1, 0);	/* [8,10) 108 */
	n += entry(t + n, 14, 1, -50);	/* [10,12) 58: two-byte varint */
	n += entry(t + n, 3, 8, 0);	/* [12,28) 58 */
	n += entry(t + n, 10, 1, 0);	/* [28,30) 58 */
	n += entry(t + n, 13, 1, 5000); /* [30,32) 5058: three-byte varint */
	n += entry(t + n, 14, 1, -1);	/* [32,34) 5057 */
	n += entry(t + n, 13, 1, 2);	/* [34,36) 5059 */
	assert_true(n <= sizeof(t));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (line311(t, n, 100, want[i].addr) != want[i].line)
			fail_msg("offset %d: line %d, want %d", want[i].addr,
				 line311(t, n, 100, want[i].addr), want[i].line);
}

static void test_311_empty_and_garbage(void **state)
{
	uint8_t t[4096];
	size_t n, i;

	assert_int_equal(line311(NULL, 0, 7, -1), 7);
	assert_int_equal(line311((const uint8_t *)"", 0, 7, 0), -1);
	/* No entry starts at the first byte. */
	assert_int_equal(line311((const uint8_t[]){0x05, 0xe8, 0x02}, 3, 7, 0), -1);
	/* An entry with its varint cut off: any line, but read within the
	 * buffer (the guard page) and the table's end still ends it.
	 */
	sink = line311((const uint8_t[]){0xe8}, 1, 7, 0);
	sink = line311((const uint8_t[]){0xe8, 0x41}, 2, 7, 0);
	sink = line311((const uint8_t[]){0xf0, 0x41, 0x41}, 3, 7, 1);
	assert_int_equal(line311((const uint8_t[]){0xf0, 0x41, 0x41}, 3, 7, 2), -1);
	/* A varint that never ends: the next entry is still found after it. */
	n = 0;
	t[n++] = 0xe8;
	memset(t + n, 0x7f, 40);
	n += 40;
	n += entry(t + n, 13, 1, 1);
	assert_int_equal(line311(t, n, 7, 2), line311(t, n, 7, 0) + 1);
	assert_int_equal(line311(t, n, 7, 4), -1);
	/* Line deltas of +2^29 run away: no line rather than an overflow. */
	n = 0;
	for (i = 0; i < 8; i++)
		n += entry(t + n, 13, 1, 1 << 28);
	assert_int_equal(line311(t, n, 0, 0), 1 << 28);
	assert_int_equal(line311(t, n, 0, 14), -1);
	assert_int_equal(line311(t, n, INT_MAX, 0), -1);
	assert_int_equal(line311(t, n, INT_MIN, 0), -1);
	/* Garbage of every length. */
	for (i = 0; i < sizeof(t); i++)
		t[i] = (uint8_t)(i * 2654435761u >> 11) | (i % 3 ? 0 : 0x80);
	for (i = 0; i < 3000; i += 3)
		sink = line311(t, i, 1, (int)(i * 7 % 9000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpython_310), cmocka_unit_test(test_cpython_311),
	    cmocka_unit_test(test_cpython_312), cmocka_unit_test(test_cpython_313),
	    cmocka_unit_test(test_310_entries), cmocka_unit_test(test_310_empty_and_garbage),
	    cmocka_unit_test(test_311_entries), cmocka_unit_test(test_311_empty_and_garbage),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
