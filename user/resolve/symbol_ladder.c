// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disasm.h"
#include "symbol_ladder.h"

#define NOT_TRIED 1
/* xz's own memory for the dictionary: a header asking for more is hostile. */
#define XZ_MEMLIMIT (256u << 20)

void symbol_ladder__init(struct symbol_ladder *l, struct elf_file *ef,
			 const char *const *debug_dirs)
{
	memset(l, 0, sizeof(*l));
	l->ef = ef;
	l->debug_dirs = debug_dirs;
	l->debugdata.fd = l->debuginfo.fd = -1;
	l->debugdata_err = l->debuginfo_err = NOT_TRIED;
}

void symbol_ladder__close(struct symbol_ladder *l)
{
	elf_file__close(&l->debugdata);
	elf_file__close(&l->debuginfo);
	l->debugdata_err = l->debuginfo_err = NOT_TRIED;
}

int symbol_ladder__unxz(const void *in, size_t len, size_t max, void **out, size_t *out_len)
{
	lzma_stream s = LZMA_STREAM_INIT;
	size_t cap = len < max / 4 ? 4 * len + 4096 : max;
	uint8_t *buf = NULL, *bigger;
	lzma_ret ret = LZMA_OK;
	int err = 0;

	*out = NULL;
	if (lzma_stream_decoder(&s, XZ_MEMLIMIT, 0) != LZMA_OK)
		return -ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	do {
		/* One byte more than max: room to see that it does not fit. */
		cap = cap > max ? max + 1 : cap;
		bigger = realloc(buf, cap);
		if (!bigger) {
			err = -ENOMEM;
			break;
		}
		buf = bigger;
		s.next_out = buf + s.total_out;
		s.avail_out = cap - s.total_out;
		ret = lzma_code(&s, LZMA_FINISH);
		if (s.total_out > max)
			err = -EFBIG;
		else if (ret == LZMA_MEM_ERROR)
			err = -ENOMEM;
		else if (ret != LZMA_OK && ret != LZMA_STREAM_END)
			err = -EBADMSG; /* garbage, truncated, over XZ_MEMLIMIT */
		else if (ret == LZMA_OK && s.avail_out)
			err = -EBADMSG; /* stuck: needs input it will not get */
		cap *= 2;
	} while (!err && ret != LZMA_STREAM_END);
	lzma_end(&s);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*out_len = s.total_out;
	return 0;
}

static int open_debugdata(struct symbol_ladder *l)
{
	const char *xz;
	size_t len, image_len;
	void *image;
	int err;

	err = elf_file__section(l->ef, ".gnu_debugdata", &xz, &len);
	if (!err)
		err = symbol_ladder__unxz(xz, len, SYMBOL_LADDER_XZ_MAX, &image, &image_len);
	if (!err)
		err = elf_file__open_mem(&l->debugdata, image, image_len);
	return err;
}

/* dir/.build-id/NN/REST.debug, with the binary's own build-id inside. */
static int open_debuginfo(struct symbol_ladder *l)
{
	char want[41], got[41], path[PATH_MAX];
	const char *const *dir;
	int err;

	err = elf_file__build_id(l->ef, want, sizeof(want));
	if (err)
		return err;
	if (strlen(want) < 3)
		return -ENOENT;
	for (dir = l->debug_dirs; dir && *dir; dir++) {
		snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", *dir, want, want + 2);
		if (elf_file__open(&l->debuginfo, path))
			continue;
		if (!elf_file__build_id(&l->debuginfo, got, sizeof(got)) && !strcmp(want, got))
			return 0;
		elf_file__close(&l->debuginfo);
	}
	return -ENOENT;
}

/* A symbol of a debug image: its address, this binary's file offset. */
static int find_in_image(struct symbol_ladder *l, struct elf_file *image, const char *name,
			 enum elf_sym_source source, struct elf_symbol *sym)
{
	int err = elf_file__find_symtab(image, name, &sym->vaddr, &sym->size);

	if (err)
		return err;
	sym->source = source;
	return elf_file__vaddr_to_offset(l->ef, sym->vaddr, &sym->file_offset);
}

int symbol_ladder__find(struct symbol_ladder *l, const char *name, const char *const *callers,
			const char *const *calls, struct elf_symbol *sym)
{
	if (!elf_file__find_symbol(l->ef, name, sym))
		return 0;
	if (l->debugdata_err == NOT_TRIED)
		l->debugdata_err = open_debugdata(l);
	if (!l->debugdata_err && !find_in_image(l, &l->debugdata, name, ELF_SYM_GNU_DEBUGDATA, sym))
		return 0;
	if (l->debuginfo_err == NOT_TRIED)
		l->debuginfo_err = open_debuginfo(l);
	if (!l->debuginfo_err && !find_in_image(l, &l->debuginfo, name, ELF_SYM_DEBUGINFO, sym))
		return 0;
	if (!callers || !callers[0])
		return -ENOENT;
	return disasm__recover(l->ef, callers, calls, sym);
}
