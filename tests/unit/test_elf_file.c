// SPDX-License-Identifier: MIT
/* Symbol resolution and data lookup in real ELF files, cross-checked with
 * nm; malformed and truncated files must fail cleanly.
 *
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pyenv_root.h"

#include "elf_file.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define LIB311 pyenv_path("3.11.7/lib/libpython3.11.so.1.0")
#define LIB312 pyenv_path("3.12.1/lib/libpython3.12.so.1.0")
#define DEBIAN311 "/usr/bin/python3.11"

/* Address nm prints for the symbol spelled exactly as name (with any
 * @VERSION suffix); 0 if absent.
 */
static uint64_t nm_addr(const char *path, bool dynamic, const char *name)
{
	char cmd[512], line[512], sname[256], type[4];
	uint64_t addr, found = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm %s --defined-only '%s' 2>/dev/null", dynamic ? "-D" : "",
		 path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (sscanf(line, "%" SCNx64 " %3s %255s", &addr, type, sname) == 3 &&
		    !strcmp(sname, name))
			found = addr;
	}
	pclose(p);
	return found;
}

static void open_ok(struct elf_file *ef, const char *path)
{
	assert_int_equal(elf_file__open(ef, path), 0);
	assert_non_null(ef->elf);
	assert_true(ef->fd >= 0);
}

static void test_libc_default_symbol_version(void **state)
{
	uint64_t def = nm_addr(LIBC, true, "pthread_cond_timedwait@@GLIBC_2.3.2");
	uint64_t old = nm_addr(LIBC, true, "pthread_cond_timedwait@GLIBC_2.2.5");
	struct elf_symbol sym;
	struct elf_file ef;
	uint64_t off;

	assert_int_not_equal(def, 0);
	assert_int_not_equal(old, 0);
	assert_int_not_equal(def, old);

	open_ok(&ef, LIBC);
	assert_false(elf_file__has_section(&ef, ".symtab"));
	assert_int_equal(elf_file__find_symbol(&ef, "pthread_cond_timedwait", &sym), 0);
	assert_int_equal(sym.vaddr, def);
	assert_int_equal(sym.source, ELF_SYM_DYNSYM);
	assert_true(sym.size > 0);
	assert_int_equal(elf_file__vaddr_to_offset(&ef, sym.vaddr, &off), 0);
	assert_int_equal(sym.file_offset, off);
	/* Undefined and unknown names. */
	assert_int_equal(elf_file__find_symbol(&ef, "no_such_function_xyz", &sym), -ENOENT);
	assert_int_equal(elf_file__find_symbol(&ef, "pthread_cond_timedwai", &sym), -ENOENT);
	elf_file__close(&ef);
	assert_null(ef.elf);
	assert_int_equal(ef.fd, -1);
}

static void test_pyenv_symtab(void **state)
{
	uint64_t take = nm_addr(LIB311, false, "take_gil");
	uint64_t frames = nm_addr(LIB311, true, "_PyThread_CurrentFrames");
	struct elf_symbol sym;
	struct elf_file ef;

	assert_int_not_equal(take, 0);
	assert_int_not_equal(frames, 0);
	open_ok(&ef, LIB311);
	assert_true(elf_file__has_section(&ef, ".symtab"));

	/* A static function: only .symtab has it. */
	assert_int_equal(elf_file__find_symbol(&ef, "take_gil", &sym), 0);
	assert_int_equal(sym.source, ELF_SYM_SYMTAB);
	assert_int_equal(sym.vaddr, take);
	assert_true(sym.size > 0);

	assert_int_equal(elf_file__find_symbol(&ef, "_PyThread_CurrentFrames", &sym), 0);
	assert_int_equal(sym.vaddr, frames);
	/* Shared objects here link at 0: text offsets equal addresses. */
	assert_int_equal(sym.file_offset, frames);
	elf_file__close(&ef);
}

static void test_debian_static_dynsym(void **state)
{
	uint64_t frames = nm_addr(DEBIAN311, true, "_PyThread_CurrentFrames");
	struct elf_symbol sym;
	struct elf_file ef;

	assert_int_not_equal(frames, 0);
	open_ok(&ef, DEBIAN311);
	assert_false(elf_file__has_section(&ef, ".symtab"));
	assert_int_equal(elf_file__find_symbol(&ef, "take_gil", &sym), -ENOENT);
	assert_int_equal(elf_file__find_symbol(&ef, "_PyThread_CurrentFrames", &sym), 0);
	assert_int_equal(sym.source, ELF_SYM_DYNSYM);
	assert_int_equal(sym.vaddr, frames);
	/* Not PIE: linked at 0x400000, so the file offset is lower. */
	assert_true(sym.vaddr >= 0x400000);
	assert_int_equal(sym.file_offset, frames - 0x400000);
	elf_file__close(&ef);
}

static void test_usdt(void **state)
{
	struct elf_file ef;

	open_ok(&ef, DEBIAN311);
	assert_true(elf_file__has_usdt(&ef, "python", "gc__start"));
	assert_true(elf_file__has_usdt(&ef, "python", "gc__done"));
	assert_false(elf_file__has_usdt(&ef, "python", "gc__star"));
	assert_false(elf_file__has_usdt(&ef, "pytho", "gc__start"));
	assert_false(elf_file__has_usdt(&ef, "python", "no_such_probe"));
	assert_false(elf_file__has_usdt(&ef, "libc", "gc__start"));
	elf_file__close(&ef);

	open_ok(&ef, LIB311);
	assert_false(elf_file__has_usdt(&ef, "python", "gc__start"));
	elf_file__close(&ef);
}

/* The RW PT_LOAD segment (initialized data followed by .bss). */
static void data_segment(struct elf_file *ef, GElf_Phdr *out)
{
	size_t i, n;

	assert_int_equal(elf_getphdrnum(ef->elf, &n), 0);
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		assert_non_null(gelf_getphdr(ef->elf, i, &ph));
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_W)) {
			*out = ph;
			return;
		}
	}
	fail_msg("no writable PT_LOAD");
}

static void test_vaddr_and_read(void **state)
{
	unsigned char raw[8], direct[8];
	struct elf_symbol sym;
	struct elf_file ef;
	uint32_t hex;
	GElf_Phdr ph;
	uint64_t off, bss;

	open_ok(&ef, LIB312);
	assert_int_equal(elf_file__find_symbol(&ef, "Py_Version", &sym), 0);
	assert_int_equal(elf_file__read(&ef, sym.vaddr, &hex, sizeof(hex)), 0);
	assert_int_equal(hex, 0x030c01f0);

	/* read() agrees with the bytes at vaddr_to_offset() in the file. */
	assert_int_equal(elf_file__vaddr_to_offset(&ef, sym.vaddr, &off), 0);
	assert_int_equal(off, sym.file_offset);
	assert_int_equal(pread(ef.fd, direct, sizeof(direct), off), sizeof(direct));
	assert_int_equal(elf_file__read(&ef, sym.vaddr, raw, sizeof(raw)), 0);
	assert_memory_equal(raw, direct, sizeof(raw));

	/* In the data segment vaddr and file offset differ. */
	data_segment(&ef, &ph);
	assert_int_not_equal(ph.p_vaddr, ph.p_offset);
	assert_int_equal(elf_file__vaddr_to_offset(&ef, ph.p_vaddr + 16, &off), 0);
	assert_int_equal(off, ph.p_offset + 16);
	assert_int_equal(elf_file__read(&ef, ph.p_vaddr + 16, raw, sizeof(raw)), 0);
	assert_int_equal(pread(ef.fd, direct, sizeof(direct), ph.p_offset + 16), sizeof(direct));
	assert_memory_equal(raw, direct, sizeof(raw));

	/* .bss has an address but no bytes in the file. */
	assert_true(ph.p_memsz > ph.p_filesz + 16);
	bss = ph.p_vaddr + ph.p_filesz;
	assert_int_equal(elf_file__vaddr_to_offset(&ef, bss + 8, &off), 0);
	assert_int_equal(elf_file__read(&ef, bss + 8, raw, sizeof(raw)), -ERANGE);
	/* Straddling the end of the initialized bytes. */
	assert_int_equal(elf_file__read(&ef, bss - 4, raw, sizeof(raw)), -ERANGE);
	assert_int_equal(elf_file__read(&ef, bss - 8, raw, sizeof(raw)), 0);

	/* Beyond every segment. */
	assert_int_equal(elf_file__vaddr_to_offset(&ef, ph.p_vaddr + ph.p_memsz, &off), -ERANGE);
	assert_int_equal(elf_file__vaddr_to_offset(&ef, UINT64_MAX - 8, &off), -ERANGE);
	assert_int_equal(elf_file__read(&ef, UINT64_MAX - 2, raw, sizeof(raw)), -ERANGE);
	elf_file__close(&ef);
}

static void test_load_bias(void **state)
{
	const uint64_t base = 0x7f1234560000ULL;
	struct elf_file ef;
	uint64_t bias;

	/* PIC library linked at 0: text segment at 0x106000 in file and memory. */
	open_ok(&ef, LIB312);
	assert_int_equal(elf_file__load_bias(&ef, base, 0, &bias), 0);
	assert_int_equal(bias, base);
	bias = 0;
	assert_int_equal(elf_file__load_bias(&ef, base + 0x106000, 0x106000, &bias), 0);
	assert_int_equal(bias, base);
	/* A file offset no segment covers. */
	assert_int_equal(elf_file__load_bias(&ef, base, 0x40000000, &bias), -ERANGE);
	elf_file__close(&ef);

	/* Non-PIE executable mapped where it was linked: no bias. */
	open_ok(&ef, DEBIAN311);
	bias = 1;
	assert_int_equal(elf_file__load_bias(&ef, 0x400000, 0, &bias), 0);
	assert_int_equal(bias, 0);
	bias = 1;
	assert_int_equal(elf_file__load_bias(&ef, 0x41f000, 0x1f000, &bias), 0);
	assert_int_equal(bias, 0);
	elf_file__close(&ef);
}

/* The mapping of the RW segment starts at bias + (p_vaddr & ~0xfff) with
 * file offset p_offset & ~0xfff; elf_file__load_bias() matches that page
 * to the preceding read-only segment (whose bytes reach into it) and is
 * off by the vaddr-offset gap (0x1000 in libpython3.12).
 */
static void test_load_bias_data_mapping(void **state)
{
	const uint64_t base = 0x7f0000000000ULL;
	struct elf_file ef;
	GElf_Phdr ph;
	uint64_t bias = 0;

	open_ok(&ef, LIB312);
	data_segment(&ef, &ph);
	assert_int_equal(elf_file__load_bias(&ef, base + (ph.p_vaddr & ~0xfffULL),
					     ph.p_offset & ~0xfffULL, &bias),
			 0);
	elf_file__close(&ef);
	assert_int_equal(bias, base);
}

static void test_not_elf(void **state)
{
	struct elf_file ef;

	memset(&ef, 0x55, sizeof(ef));
	assert_int_equal(elf_file__open(&ef, "/etc/passwd"), -ENOEXEC);
	assert_null(ef.elf);
	assert_int_equal(ef.fd, -1);
	elf_file__close(&ef); /* harmless after a failed open */

	assert_int_equal(elf_file__open(&ef, "/nonexistent/gilwatch/libpython3.12.so"), -ENOENT);
	assert_null(ef.elf);
	elf_file__close(&ef);

	assert_true(elf_file__open(&ef, "/") < 0);
	assert_true(elf_file__open(&ef, "/dev/null") < 0);
}

/* Writes the first len bytes of src to a temporary file. */
static void truncated_copy(const char *src, size_t len, char *tmpl, int patch_class)
{
	char buf[4096];
	int in, out;

	assert_true(len <= sizeof(buf));
	in = open(src, O_RDONLY);
	assert_true(in >= 0);
	assert_int_equal(read(in, buf, len), len);
	close(in);
	if (patch_class)
		buf[EI_CLASS] = ELFCLASS32;
	out = mkstemp(tmpl);
	assert_true(out >= 0);
	assert_int_equal(write(out, buf, len), len);
	close(out);
}

static void test_truncated(void **state)
{
	char path[] = "/tmp/gw-test-elf-XXXXXX", hex[41];
	struct elf_symbol sym;
	struct elf_file ef;
	const char *data;
	size_t len;
	uint64_t off, bias;
	unsigned char b[4];

	truncated_copy(LIB311, 4096, path, 0);
	if (elf_file__open(&ef, path)) {
		unlink(path);
		return; /* rejecting it outright is fine too */
	}
	/* Section headers live at the end: nothing is found, nothing crashes. */
	assert_true(elf_file__find_symbol(&ef, "take_gil", &sym) < 0);
	assert_true(elf_file__find_symbol(&ef, "Py_Version", &sym) < 0);
	assert_false(elf_file__has_section(&ef, ".rodata"));
	assert_true(elf_file__section(&ef, ".rodata", &data, &len) < 0);
	assert_int_equal(elf_file__build_id(&ef, hex, sizeof(hex)), -ENOENT);
	assert_string_equal(hex, "");
	assert_false(elf_file__has_usdt(&ef, "python", "gc__start"));
	/* Program headers are in the first page and still work. */
	elf_file__vaddr_to_offset(&ef, 0x1000, &off);
	elf_file__load_bias(&ef, 0x7f0000000000ULL, 0, &bias);
	/* Bytes present in the copy can be read; those past its end cannot. */
	assert_int_equal(elf_file__read(&ef, 0, b, sizeof(b)), 0);
	assert_memory_equal(b, ELFMAG, SELFMAG);
	assert_int_equal(elf_file__read(&ef, 4094, b, sizeof(b)), -ERANGE);
	assert_int_equal(elf_file__read(&ef, 0x200000, b, sizeof(b)), -ERANGE);
	elf_file__close(&ef);
	unlink(path);
}

static void test_elf32_rejected(void **state)
{
	char path[] = "/tmp/gw-test-elf-XXXXXX";
	struct elf_file ef;

	truncated_copy(LIB311, 4096, path, 1);
	assert_int_equal(elf_file__open(&ef, path), -ENOEXEC);
	unlink(path);
}

/* NT_GNU_BUILD_ID and NT_STAPSDT are both note type 3: without a build-id
 * note, elf_file__build_id() hex-dumps the first USDT descriptor instead of
 * returning -ENOENT. Needs objcopy (binutils).
 */
static void test_build_id_from_stapsdt(void **state)
{
	char path[] = "/tmp/gw-test-elf-XXXXXX", cmd[256], hex[41];
	struct elf_file ef;
	int fd, err;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "objcopy --remove-section=.note.gnu.build-id %s %s", DEBIAN311,
		 path);
	assert_int_equal(system(cmd), 0);
	open_ok(&ef, path);
	assert_true(elf_file__has_usdt(&ef, "python", "gc__start"));
	err = elf_file__build_id(&ef, hex, sizeof(hex));
	elf_file__close(&ef);
	unlink(path);
	assert_string_equal(hex, "");
	assert_int_equal(err, -ENOENT);
}

/* The GOT slot of an import, as readelf lists its JUMP_SLOT relocation. */
static void test_got_slot_and_exports(void **state)
{
	char cmd[256], line[512];
	uint64_t slot, want = 0, *addrs;
	struct elf_symbol take;
	struct elf_file ef;
	size_t n, i;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -rW %s | grep ' pthread_cond_timedwait@'", LIB311);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	assert_int_equal(sscanf(line, "%" SCNx64, &want), 1);

	open_ok(&ef, LIB311);
	assert_int_equal(elf_file__got_slot(&ef, "pthread_cond_timedwait", &slot), 0);
	assert_int_equal(slot, want);
	assert_int_equal(elf_file__got_slot(&ef, "no_such_import_xyz", &slot), -ENOENT);
	/* Exported functions: sorted, with PyEval_SaveThread, without take_gil. */
	assert_int_equal(elf_file__exported_functions(&ef, &addrs, &n), 0);
	assert_true(n > 1000);
	for (i = 1; i < n; i++)
		assert_true(addrs[i - 1] <= addrs[i]);
	assert_int_equal(elf_file__find_symbol(&ef, "take_gil", &take), 0);
	want = nm_addr(LIB311, true, "PyEval_SaveThread");
	for (i = 0; i < n && addrs[i] != want; i++)
		assert_int_not_equal(addrs[i], take.vaddr);
	assert_true(i < n);
	free(addrs);
	elf_file__close(&ef);
}

/* An image in memory reads like the file; a bad one is refused and freed. */
static void test_open_mem(void **state)
{
	struct elf_symbol from_file, from_mem;
	struct elf_file ef;
	uint64_t vaddr, size;
	char *image;
	size_t len;

	/* Compared whole below: padding included. */
	memset(&from_file, 0, sizeof(from_file));
	memset(&from_mem, 0, sizeof(from_mem));
	open_ok(&ef, LIB312);
	assert_int_equal(elf_file__find_symbol(&ef, "take_gil", &from_file), 0);
	image = elf_rawfile(ef.elf, &len);
	assert_non_null(image);
	image = memcpy(malloc(len), image, len);
	elf_file__close(&ef);

	assert_int_equal(elf_file__open_mem(&ef, image, len), 0);
	assert_int_equal(ef.fd, -1);
	assert_int_equal(elf_file__find_symbol(&ef, "take_gil", &from_mem), 0);
	assert_memory_equal(&from_file, &from_mem, sizeof(from_file));
	assert_int_equal(elf_file__find_symtab(&ef, "take_gil", &vaddr, &size), 0);
	assert_int_equal(vaddr, from_file.vaddr);
	assert_int_equal(size, from_file.size);
	assert_int_equal(elf_file__find_symtab(&ef, "no_such_function_xyz", &vaddr, &size),
			 -ENOENT);
	elf_file__close(&ef);
	assert_null(ef.image);

	assert_int_equal(elf_file__open_mem(&ef, strdup("not an ELF image"), 17), -ENOEXEC);
	assert_null(ef.elf);
	assert_null(ef.image);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_libc_default_symbol_version),
	    cmocka_unit_test(test_pyenv_symtab),
	    cmocka_unit_test(test_debian_static_dynsym),
	    cmocka_unit_test(test_usdt),
	    cmocka_unit_test(test_vaddr_and_read),
	    cmocka_unit_test(test_load_bias),
	    cmocka_unit_test(test_not_elf),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_elf32_rejected),
	    cmocka_unit_test(test_load_bias_data_mapping),
	    cmocka_unit_test(test_build_id_from_stapsdt),
	    cmocka_unit_test(test_got_slot_and_exports),
	    cmocka_unit_test(test_open_mem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
