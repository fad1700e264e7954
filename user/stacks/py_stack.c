// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gilwatch.h"
#include "linetable.h"
#include "proc.h"
#include "py_stack.h"

/* Direct-mapped: a stack touches few code objects, and a miss only costs
 * reads. An entry is trusted again only if the object still points to the
 * same strings and table (the address may have been reused).
 */
#define CODE_CACHE_SLOTS 1024
#define LINETABLE_MAX (64 * 1024)
#define CODE_HEADER_MAX 256
#define FRAME_HEADER_MAX 128

struct code_entry {
	uint64_t addr, filename, name, linetable;
	int firstlineno;
	char function[PY_FUNCTION_LEN];
	char file[PY_FILE_LEN];
	uint8_t *table;
	size_t table_len;
	int partial; /* only the table's first bytes: look again next time */
};

struct py_code_cache {
	struct code_entry slot[CODE_CACHE_SLOTS];
};

static int read_process(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return proc__read_mem((pid_t)(intptr_t)ctx, addr, buf, len);
}

struct mem_source mem_source__process(pid_t pid)
{
	return (struct mem_source){.read = read_process, .ctx = (void *)(intptr_t)pid};
}

static int mem_read(struct py_reader *r, uint64_t addr, void *buf, size_t len)
{
	if (!addr || addr + len < addr)
		return -EFAULT;
	return r->mem.read(r->mem.ctx, addr, buf, len);
}

static uint64_t u64_at(const uint8_t *p, uint64_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t u32_at(const uint8_t *p, uint64_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

int py_reader__init(struct py_reader *r, const struct python_layout *l, uint64_t code_type,
		    struct mem_source mem)
{
	memset(r, 0, sizeof(*r));
	r->l = &l->stack;
	r->minor = l->minor;
	r->code_type = code_type;
	r->mem = mem;
	r->cache = calloc(1, sizeof(*r->cache));
	return r->cache ? 0 : -ENOMEM;
}

void py_reader__destroy(struct py_reader *r)
{
	size_t i;

	if (!r->cache)
		return;
	for (i = 0; i < CODE_CACHE_SLOTS; i++)
		free(r->cache->slot[i].table);
	free(r->cache);
	r->cache = NULL;
}

/* Appends code point c as UTF-8 if it fits (leaving room for the NUL). */
static size_t put_utf8(char *buf, size_t pos, size_t len, uint32_t c)
{
	char tmp[4];
	size_t n;

	if (c >= 0xd800 && c < 0xe000)
		c = '?'; /* a lone surrogate is no UTF-8 */
	if (c < 0x80) {
		tmp[0] = c, n = 1;
	} else if (c < 0x800) {
		tmp[0] = 0xc0 | c >> 6, tmp[1] = 0x80 | (c & 63), n = 2;
	} else if (c < 0x10000) {
		tmp[0] = 0xe0 | c >> 12, tmp[1] = 0x80 | ((c >> 6) & 63);
		tmp[2] = 0x80 | (c & 63), n = 3;
	} else if (c < 0x110000) {
		tmp[0] = 0xf0 | c >> 18, tmp[1] = 0x80 | ((c >> 12) & 63);
		tmp[2] = 0x80 | ((c >> 6) & 63), tmp[3] = 0x80 | (c & 63), n = 4;
	} else {
		tmp[0] = '?', n = 1;
	}
	if (pos + n >= len)
		return 0;
	memcpy(buf + pos, tmp, n);
	return n;
}

int py_reader__string(struct py_reader *r, uint64_t obj, char *buf, size_t len)
{
	const struct python_stack_layout *l = r->l;
	uint8_t hdr[128], data[4 * PY_FILE_LEN];
	unsigned state, kind;
	uint64_t length, want;
	size_t pos = 0, i;
	int err;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	if (l->unicode_ascii_data > sizeof(hdr) || l->unicode_state + 4 > sizeof(hdr) ||
	    l->unicode_length + 8 > sizeof(hdr))
		return -EINVAL;
	err = mem_read(r, obj, hdr, l->unicode_ascii_data);
	if (err)
		return err;
	state = u32_at(hdr, l->unicode_state);
	length = u64_at(hdr, l->unicode_length);
	kind = (state >> 2) & 7;
	if (!(state & 0x20) || (kind != 1 && kind != 2 && kind != 4) || (length >> 32))
		return -EPROTO; /* not a compact str: legacy or garbage */
	if (state & 0x40 && kind != 1)
		return -EPROTO;
	want = length < len - 1 ? length : len - 1;
	if (want * kind > sizeof(data))
		want = sizeof(data) / kind;
	err = mem_read(r, obj + (state & 0x40 ? l->unicode_ascii_data : l->unicode_compact_data),
		       data, want * kind);
	if (err)
		return err;
	for (i = 0; i < want; i++) {
		uint32_t c = data[i];
		size_t n;

		if (kind == 2)
			c = data[2 * i] | (uint32_t)data[2 * i + 1] << 8;
		else if (kind == 4)
			c = u32_at(data, i * 4);
		n = put_utf8(buf, pos, len, c);

		if (!n)
			break;
		pos += n;
	}
	buf[pos] = '\0';
	return 0;
}

/* The bytes object's content, or failing that its first `prefix` bytes
 * (*partial set): a copy taken at an event holds no more, and a line table
 * decodes from its start.
 */
static int read_bytes_object(struct py_reader *r, uint64_t obj, size_t prefix, uint8_t **out,
			     size_t *out_len, int *partial)
{
	const struct python_stack_layout *l = r->l;
	int64_t size = 0;
	uint8_t *data;
	int err;

	err = mem_read(r, obj + l->bytes_size, &size, sizeof(size));
	if (err)
		return err;
	if (size < 0 || size > LINETABLE_MAX)
		return -E2BIG;
	data = malloc(size ? size : 1);
	if (!data)
		return -ENOMEM;
	err = size ? mem_read(r, obj + l->bytes_data, data, size) : 0;
	*partial = 0;
	if (err && (size_t)size > prefix && prefix) {
		size = prefix;
		err = mem_read(r, obj + l->bytes_data, data, size);
		*partial = !err;
	}
	if (err) {
		free(data);
		return err;
	}
	*out = data;
	*out_len = size;
	return 0;
}

static size_t code_header_len(const struct python_stack_layout *l)
{
	uint64_t m = l->code_filename;

	m = l->code_name > m ? l->code_name : m;
	m = l->code_qualname > m ? l->code_qualname : m;
	m = l->code_linetable > m ? l->code_linetable : m;
	m = l->code_firstlineno > m ? l->code_firstlineno : m;
	return m + 8;
}

/* The cached decoding of the code object at `code`, refreshed if stale. */
static struct code_entry *code_lookup(struct py_reader *r, uint64_t code)
{
	const struct python_stack_layout *l = r->l;
	struct code_entry *e = &r->cache->slot[(code >> 4) % CODE_CACHE_SLOTS];
	uint8_t hdr[CODE_HEADER_MAX];
	uint64_t name, filename, linetable;
	size_t hlen = code_header_len(l);
	int firstlineno;

	if (hlen > sizeof(hdr) || mem_read(r, code, hdr, hlen))
		return NULL;
	if (r->code_type && u64_at(hdr, 8) != r->code_type)
		return NULL;
	name = u64_at(hdr, r->minor >= 11 ? l->code_qualname : l->code_name);
	filename = u64_at(hdr, l->code_filename);
	linetable = u64_at(hdr, l->code_linetable);
	firstlineno = (int)u32_at(hdr, l->code_firstlineno);
	if (e->addr == code && e->name == name && e->filename == filename &&
	    e->linetable == linetable && e->firstlineno == firstlineno && !e->partial)
		return e;
	free(e->table);
	memset(e, 0, sizeof(*e));
	if (py_reader__string(r, name, e->function, sizeof(e->function)) ||
	    py_reader__string(r, filename, e->file, sizeof(e->file)) ||
	    read_bytes_object(r, linetable, GW_LINETABLE_BYTES - l->bytes_data, &e->table,
			      &e->table_len, &e->partial)) {
		free(e->table);
		memset(e, 0, sizeof(*e));
		return NULL;
	}
	e->addr = code;
	e->name = name;
	e->filename = filename;
	e->linetable = linetable;
	e->firstlineno = firstlineno;
	return e;
}

int py_reader__frame(struct py_reader *r, uint64_t code, uint64_t instr, struct py_frame *out)
{
	struct code_entry *e = code_lookup(r, code);
	int64_t addr;

	if (!e)
		return -EFAULT;
	memset(out, 0, sizeof(*out));
	out->code = code;
	memcpy(out->function, e->function, sizeof(out->function));
	memcpy(out->file, e->file, sizeof(out->file));
	if (r->minor <= 10) {
		/* f_lasti counts code units; -1 before the first instruction. */
		addr = (int32_t)instr < 0 ? -1 : (int64_t)(int32_t)instr * 2;
		/* Garbage beyond any real code must not wrap into "not started". */
		out->line =
		    addr > (int64_t)LINETABLE_MAX * 256
			? -1
			: linetable__line_310(e->table, e->table_len, e->firstlineno, (int)addr);
	} else {
		addr = (int64_t)(instr - (code + r->l->code_adaptive));
		if (addr < -2 || addr > (int64_t)LINETABLE_MAX * 16)
			out->line = -1;
		else
			out->line = linetable__line_311(e->table, e->table_len, e->firstlineno,
							addr < 0 ? -1 : (int)(addr & ~1));
	}
	return 0;
}

int py_reader__current_frame(struct py_reader *r, uint64_t tstate, uint64_t *frame)
{
	const struct python_stack_layout *l = r->l;
	uint64_t p = 0;
	int err;

	*frame = 0;
	err = mem_read(r, tstate + l->tstate_frame, &p, sizeof(p));
	if (err || !p || !l->frame_via_cframe) {
		*frame = p;
		return err;
	}
	return mem_read(r, p + l->cframe_current_frame, frame, sizeof(*frame));
}

static size_t frame_header_len(const struct python_stack_layout *l)
{
	uint64_t m = l->frame_previous;

	m = l->frame_code > m ? l->frame_code : m;
	m = l->frame_instr > m ? l->frame_instr : m;
	m = l->frame_owner > m ? l->frame_owner : m;
	return m + 8;
}

int py_reader__stack(struct py_reader *r, uint64_t frame, struct py_stack *out)
{
	const struct python_stack_layout *l = r->l;
	size_t hlen = frame_header_len(l);
	uint8_t hdr[FRAME_HEADER_MAX];
	unsigned steps;

	out->n = 0;
	out->truncated = 0;
	if (hlen > sizeof(hdr))
		return -EINVAL;
	/* Shim frames take steps too: bound the walk, not only the output. */
	for (steps = 0; frame && steps < 2 * PY_STACK_DEPTH; steps++) {
		uint64_t code, instr;
		int err;

		if (out->n == PY_STACK_DEPTH) {
			out->truncated = 1;
			break;
		}
		err = mem_read(r, frame, hdr, hlen);
		if (err) {
			if (!out->n && !steps)
				return err;
			out->truncated = 1;
			break;
		}
		code = u64_at(hdr, l->frame_code);
		if (l->frame_code_tagged)
			code &= ~3ull;
		instr = r->minor <= 10 ? u32_at(hdr, l->frame_instr) : u64_at(hdr, l->frame_instr);
		if (!l->frame_owner_shim || hdr[l->frame_owner] < l->frame_owner_shim) {
			if (py_reader__frame(r, code, instr, &out->f[out->n])) {
				out->truncated = 1;
				break;
			}
			out->n++;
		}
		frame = u64_at(hdr, l->frame_previous);
	}
	if (frame && steps == 2 * PY_STACK_DEPTH)
		out->truncated = 1;
	return 0;
}
