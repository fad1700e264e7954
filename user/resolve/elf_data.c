// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <gelf.h>
#include <string.h>

#include "elf_data.h"

#define R_X86_64_RELATIVE_TYPE 8

/* Calls fn on each loaded section with file contents: code if code. */
static size_t each_section(struct elf_file *ef, bool code,
			   size_t (*fn)(const GElf_Shdr *sh, const uint8_t *data, void *ctx),
			   void *ctx)
{
	Elf_Scn *scn = NULL;
	size_t found = 0;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || !!(sh.sh_flags & SHF_EXECINSTR) != code)
			continue;
		d = elf_getdata(scn, NULL);
		if (d && d->d_buf && d->d_size == sh.sh_size)
			found += fn(&sh, d->d_buf, ctx);
	}
	return found;
}

struct search {
	const void *needle;
	size_t len, n, max;
	uint64_t *out;
	bool aligned;
};

static size_t search_section(const GElf_Shdr *sh, const uint8_t *data, void *ctx)
{
	struct search *s = ctx;
	const uint8_t *p = data, *end = data + sh->sh_size;
	size_t before = s->n;

	while (s->n < s->max && (p = memmem(p, end - p, s->needle, s->len))) {
		if (!s->aligned || !((p - data) & 7))
			s->out[s->n++] = sh->sh_addr + (p - data);
		p++;
	}
	return s->n - before;
}

size_t elf_data__strings(struct elf_file *ef, const char *str, uint64_t *out, size_t max)
{
	struct search s = {.needle = str, .len = strlen(str) + 1, .out = out, .max = max};

	return each_section(ef, false, search_section, &s);
}

/* Calls fn on each relative relocation (slot, addend) until it returns
 * non-zero.
 */
static int each_relative(struct elf_file *ef, int (*fn)(uint64_t slot, uint64_t addend, void *ctx),
			 void *ctx)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t i;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			int ret;

			if (!gelf_getrela(d, (int)i, &r) ||
			    GELF_R_TYPE(r.r_info) != R_X86_64_RELATIVE_TYPE)
				continue;
			ret = fn(r.r_offset, (uint64_t)r.r_addend, ctx);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int add_slot(uint64_t slot, uint64_t addend, void *ctx)
{
	struct search *s = ctx;

	if (addend == *(const uint64_t *)s->needle)
		s->out[s->n++] = slot;
	return s->n == s->max;
}

size_t elf_data__pointers_to(struct elf_file *ef, uint64_t value, uint64_t *out, size_t max)
{
	struct search s = {
	    .needle = &value, .len = sizeof(value), .out = out, .max = max, .aligned = true};

	if (!max)
		return 0;
	each_relative(ef, add_slot, &s);
	return s.n ? s.n : each_section(ef, false, search_section, &s);
}

struct at {
	uint64_t slot, value;
	bool found;
};

static int match_slot(uint64_t slot, uint64_t addend, void *ctx)
{
	struct at *a = ctx;

	if (slot != a->slot)
		return 0;
	a->value = addend;
	a->found = true;
	return 1;
}

int elf_data__pointer_at(struct elf_file *ef, uint64_t slot, uint64_t *value)
{
	struct at a = {.slot = slot};

	each_relative(ef, match_slot, &a);
	if (a.found) {
		*value = a.value;
		return 0;
	}
	return elf_file__read(ef, slot, value, sizeof(*value));
}
