// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf_file.h"

const char *elf_symbol__method(const struct elf_symbol *sym)
{
	switch (sym->source) {
	case ELF_SYM_SYMTAB:
		return "symtab";
	case ELF_SYM_GNU_DEBUGDATA:
		return "gnu_debugdata";
	case ELF_SYM_DEBUGINFO:
		return "debuginfo";
	case ELF_SYM_DISASM:
		return "disasm";
	case ELF_SYM_METHOD_TABLE:
		return "method_table";
	default:
		return "dynsym";
	}
}

static int check_elf64(struct elf_file *ef)
{
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF || gelf_getclass(ef->elf) != ELFCLASS64) {
		elf_file__close(ef);
		return -ENOEXEC;
	}
	return 0;
}

int elf_file__open(struct elf_file *ef, const char *path)
{
	ef->elf = NULL;
	ef->image = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	ef->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ef->fd < 0)
		return -errno;
	ef->elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
	return check_elf64(ef);
}

int elf_file__open_mem(struct elf_file *ef, void *image, size_t len)
{
	ef->fd = -1;
	ef->elf = NULL;
	ef->image = image;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		elf_file__close(ef);
		return -EINVAL;
	}
	ef->elf = elf_memory(image, len);
	return check_elf64(ef);
}

void elf_file__close(struct elf_file *ef)
{
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->fd >= 0)
		close(ef->fd);
	free(ef->image);
	ef->elf = NULL;
	ef->fd = -1;
	ef->image = NULL;
}

static Elf_Scn *find_section_by_type(struct elf_file *ef, Elf64_Word type, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (gelf_getshdr(scn, shdr) && shdr->sh_type == type)
			return scn;
	}
	return NULL;
}

/* The data of the first section of this type and its header. */
static Elf_Data *section_data(struct elf_file *ef, Elf64_Word type, GElf_Shdr *shdr)
{
	Elf_Scn *scn = find_section_by_type(ef, type, shdr);

	return scn && shdr->sh_entsize ? elf_getdata(scn, NULL) : NULL;
}

/* A defined function or object called name in the symbol table of this type. */
static int lookup(struct elf_file *ef, Elf64_Word type, const char *name, GElf_Sym *out)
{
	Elf_Data *data, *versyms = NULL;
	GElf_Shdr shdr, vshdr;
	size_t i, n;

	data = section_data(ef, type, &shdr);
	if (!data)
		return -ENOENT;
	if (type == SHT_DYNSYM) {
		Elf_Scn *vscn = find_section_by_type(ef, SHT_GNU_versym, &vshdr);

		if (vscn)
			versyms = elf_getdata(vscn, NULL);
	}
	n = shdr.sh_size / shdr.sh_entsize;
	for (i = 0; i < n; i++) {
		const char *sname;
		GElf_Versym vs;
		GElf_Sym sym;

		if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
		    GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
			continue;
		sname = elf_strptr(ef->elf, shdr.sh_link, sym.st_name);
		if (!sname || strcmp(sname, name))
			continue;
		/* pthread_cond_timedwait@GLIBC_2.2.5 is the old ABI: skip hidden versions. */
		if (versyms && gelf_getversym(versyms, i, &vs) && (vs & 0x8000))
			continue;
		*out = sym;
		return 0;
	}
	return -ENOENT;
}

static int find_in_symtab(struct elf_file *ef, Elf64_Word type, const char *name,
			  struct elf_symbol *out)
{
	GElf_Sym sym;
	int err = lookup(ef, type, name, &sym);

	if (err)
		return err;
	out->vaddr = sym.st_value;
	out->size = sym.st_size;
	out->source = type == SHT_SYMTAB ? ELF_SYM_SYMTAB : ELF_SYM_DYNSYM;
	return elf_file__vaddr_to_offset(ef, out->vaddr, &out->file_offset);
}

int elf_file__find_symbol(struct elf_file *ef, const char *name, struct elf_symbol *sym)
{
	if (!find_in_symtab(ef, SHT_SYMTAB, name, sym))
		return 0;
	return find_in_symtab(ef, SHT_DYNSYM, name, sym);
}

int elf_file__find_symtab(struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size)
{
	GElf_Sym sym;
	int err = lookup(ef, SHT_SYMTAB, name, &sym);

	if (err)
		return err;
	*vaddr = sym.st_value;
	*size = sym.st_size;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int elf_file__exported_functions(struct elf_file *ef, uint64_t **addrs, size_t *n)
{
	GElf_Shdr shdr;
	Elf_Data *data = section_data(ef, SHT_DYNSYM, &shdr);
	size_t i, count;

	*addrs = NULL;
	*n = 0;
	if (!data)
		return -ENOENT;
	count = shdr.sh_size / shdr.sh_entsize;
	*addrs = calloc(count ? count : 1, sizeof(**addrs));
	if (!*addrs)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		GElf_Sym sym;

		if (gelf_getsym(data, i, &sym) && sym.st_shndx != SHN_UNDEF && sym.st_value &&
		    GELF_ST_TYPE(sym.st_info) == STT_FUNC)
			(*addrs)[(*n)++] = sym.st_value;
	}
	qsort(*addrs, *n, sizeof(**addrs), cmp_u64);
	return 0;
}

int elf_file__got_slot(struct elf_file *ef, const char *name, uint64_t *slot)
{
	Elf_Scn *scn = NULL;

	/* .rela.plt (JUMP_SLOT) and .rela.dyn (GLOB_DAT, for -fno-plt calls) */
	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr shdr, symshdr;
		Elf_Data *data, *syms;
		Elf_Scn *symscn;
		size_t i, n;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_RELA || !shdr.sh_entsize)
			continue;
		symscn = elf_getscn(ef->elf, shdr.sh_link);
		data = elf_getdata(scn, NULL);
		if (!symscn || !gelf_getshdr(symscn, &symshdr) || symshdr.sh_type != SHT_DYNSYM ||
		    !data || !(syms = elf_getdata(symscn, NULL)))
			continue;
		n = shdr.sh_size / shdr.sh_entsize;
		for (i = 0; i < n; i++) {
			unsigned type;
			const char *sname;
			GElf_Rela rela;
			GElf_Sym sym;

			if (!gelf_getrela(data, i, &rela))
				continue;
			type = GELF_R_TYPE(rela.r_info);
			if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) ||
			    !gelf_getsym(syms, GELF_R_SYM(rela.r_info), &sym))
				continue;
			sname = elf_strptr(ef->elf, symshdr.sh_link, sym.st_name);
			if (sname && !strcmp(sname, name)) {
				*slot = rela.r_offset;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int elf_file__vaddr_to_offset(struct elf_file *ef, uint64_t vaddr, uint64_t *offset)
{
	size_t i, n;

	if (elf_getphdrnum(ef->elf, &n))
		return -ENOEXEC;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(ef->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz) {
			*offset = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ERANGE;
}

int elf_file__read(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
	size_t i, n, fsize;
	char *image;

	image = elf_rawfile(ef->elf, &fsize);
	if (!image || elf_getphdrnum(ef->elf, &n))
		return -ENOEXEC;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;
		uint64_t off;

		if (!gelf_getphdr(ef->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr < ph.p_vaddr || vaddr - ph.p_vaddr >= ph.p_filesz ||
		    len > ph.p_filesz - (vaddr - ph.p_vaddr))
			continue;
		off = vaddr - ph.p_vaddr + ph.p_offset;
		if (off > fsize || len > fsize - off)
			return -ERANGE;
		/* Not from the mapping: uprobes attached to every process mapping
		 * the file (the agent's shared probes) put their int3s in ours
		 * too, as it may execute. The file itself is never patched.
		 */
		if (ef->fd >= 0)
			return pread(ef->fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
		memcpy(buf, image + off, len);
		return 0;
	}
	return -ERANGE;
}

int elf_file__load_bias(struct elf_file *ef, uint64_t map_start, uint64_t map_pgoff, uint64_t *bias)
{
	int found = -ERANGE;
	size_t i, n;

	if (elf_getphdrnum(ef->elf, &n))
		return -ENOEXEC;
	/* A segment's last page can also be the next one's first: the last
	 * PT_LOAD (in file order) that covers the page is the one mapped there.
	 */
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;
		uint64_t page, seg_off, seg_vaddr;

		if (!gelf_getphdr(ef->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		page = ph.p_align > 1 ? ph.p_align - 1 : 0;
		seg_off = ph.p_offset & ~page;
		if (map_pgoff < seg_off || map_pgoff >= ph.p_offset + ph.p_filesz)
			continue;
		seg_vaddr = ph.p_vaddr - (ph.p_offset - seg_off);
		*bias = map_start - (seg_vaddr + (map_pgoff - seg_off));
		found = 0;
	}
	return found;
}

static Elf_Scn *find_section_by_name(struct elf_file *ef, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(ef->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		const char *sname;

		if (!gelf_getshdr(scn, shdr))
			continue;
		sname = elf_strptr(ef->elf, shstrndx, shdr->sh_name);
		if (sname && !strcmp(sname, name))
			return scn;
	}
	return NULL;
}

bool elf_file__has_section(struct elf_file *ef, const char *name)
{
	GElf_Shdr shdr;

	return find_section_by_name(ef, name, &shdr) != NULL;
}

int elf_file__section(struct elf_file *ef, const char *name, const char **data, size_t *len)
{
	size_t fsize;
	GElf_Shdr shdr;
	char *image;

	image = elf_rawfile(ef->elf, &fsize);
	if (!image || !find_section_by_name(ef, name, &shdr) || shdr.sh_type == SHT_NOBITS)
		return -ENOENT;
	if (shdr.sh_offset > fsize || shdr.sh_size > fsize - shdr.sh_offset)
		return -ERANGE;
	*data = image + shdr.sh_offset;
	*len = shdr.sh_size;
	return 0;
}

/* Calls fn for each note of this owner and type until it returns non-zero:
 * types are only unique per owner (GNU build-id and stapsdt are both 3).
 */
static int for_each_note(struct elf_file *ef, const char *owner, Elf64_Word ntype,
			 int (*fn)(const char *desc, size_t len, void *ctx), void *ctx)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr shdr;
		GElf_Nhdr nhdr;
		size_t off = 0, name_off, desc_off;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
			if (nhdr.n_type != ntype || nhdr.n_namesz != strlen(owner) + 1 ||
			    memcmp((const char *)data->d_buf + name_off, owner, nhdr.n_namesz))
				continue;
			if (fn((const char *)data->d_buf + desc_off, nhdr.n_descsz, ctx))
				return 1;
		}
	}
	return 0;
}

struct hex_ctx {
	char *hex;
	size_t len;
};

static int build_id_note(const char *desc, size_t len, void *ctx)
{
	struct hex_ctx *h = ctx;
	size_t i;

	for (i = 0; i < len && 2 * i + 2 < h->len; i++)
		snprintf(h->hex + 2 * i, 3, "%02x", (unsigned char)desc[i]);
	return 1;
}

int elf_file__build_id(struct elf_file *ef, char *hex, size_t len)
{
	struct hex_ctx h = {hex, len};

	if (!len)
		return -EINVAL;
	hex[0] = '\0';
	return for_each_note(ef, "GNU", NT_GNU_BUILD_ID, build_id_note, &h) ? 0 : -ENOENT;
}

struct usdt_ctx {
	const char *provider, *name;
	uint64_t pc;
};

/* stapsdt note: pc, base, semaphore (3 x 8 bytes), then provider\0name\0args\0. */
static int usdt_note(const char *desc, size_t len, void *ctx)
{
	struct usdt_ctx *u = ctx;
	size_t plen = strlen(u->provider), nlen = strlen(u->name);

	if (len < 24 + plen + nlen + 2)
		return 0;
	memcpy(&u->pc, desc, sizeof(u->pc));
	desc += 24;
	return !memcmp(desc, u->provider, plen + 1) && !memcmp(desc + plen + 1, u->name, nlen + 1);
}

bool elf_file__has_usdt(struct elf_file *ef, const char *provider, const char *name)
{
	struct usdt_ctx u = {provider, name, 0};

	return for_each_note(ef, "stapsdt", 3 /* NT_STAPSDT */, usdt_note, &u);
}

int elf_file__usdt_pc(struct elf_file *ef, const char *provider, const char *name, uint64_t *pc)
{
	struct usdt_ctx u = {provider, name, 0};

	if (!for_each_note(ef, "stapsdt", 3 /* NT_STAPSDT */, usdt_note, &u))
		return -ENOENT;
	*pc = u.pc;
	return 0;
}

/* .eh_frame_hdr's search table: (function start, FDE) pairs sorted by
 * start, in the encoding every GNU toolchain emits: 4-byte signed offsets
 * from the section (DW_EH_PE_datarel | DW_EH_PE_sdata4).
 */
#define EH_PE_UDATA4 0x03
#define EH_PE_DATAREL_SDATA4 0x3b

int elf_file__function_range(struct elf_file *ef, uint64_t vaddr, uint64_t *start, uint64_t *end)
{
	const uint8_t *hdr, *table;
	uint64_t base, lo_start;
	size_t len, lo, hi, count;
	GElf_Shdr sh;
	uint32_t n;

	if (!find_section_by_name(ef, ".eh_frame_hdr", &sh) ||
	    elf_file__section(ef, ".eh_frame_hdr", (const char **)&hdr, &len) || len < 12)
		return -ENOENT;
	base = sh.sh_addr;
	/* version 1, eh_frame_ptr (4 bytes in practice), fde_count, table */
	if (!base || hdr[0] != 1 || hdr[2] != EH_PE_UDATA4 || hdr[3] != EH_PE_DATAREL_SDATA4)
		return -ENOTSUP;
	memcpy(&n, hdr + 8, sizeof(n));
	table = hdr + 12;
	count = n;
	if (count > (len - 12) / 8 || !count)
		return -EINVAL;
#define ENTRY_START(i)                                                                             \
	(base + (int64_t)(int32_t)(table[8 * (i)] | table[8 * (i) + 1] << 8 |                      \
				   table[8 * (i) + 2] << 16 | (uint32_t)table[8 * (i) + 3] << 24))
	lo = 0;
	hi = count;
	while (hi - lo > 1) { /* the last entry starting at or before vaddr */
		size_t mid = lo + (hi - lo) / 2;

		if (ENTRY_START(mid) <= vaddr)
			lo = mid;
		else
			hi = mid;
	}
	lo_start = ENTRY_START(lo);
	if (lo_start > vaddr || lo + 1 >= count)
		return -ENOENT;
	*start = lo_start;
	*end = ENTRY_START(lo + 1);
#undef ENTRY_START
	return 0;
}

int elf_file__function_at(struct elf_file *ef, uint64_t vaddr, enum elf_sym_source source,
			  struct elf_symbol *sym)
{
	uint64_t start, end;

	if (!vaddr || elf_file__function_range(ef, vaddr, &start, &end) || start != vaddr ||
	    elf_file__vaddr_to_offset(ef, vaddr, &sym->file_offset))
		return -ENOENT;
	sym->vaddr = vaddr;
	sym->size = end - start;
	sym->source = source;
	return 0;
}
