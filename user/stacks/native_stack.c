// SPDX-License-Identifier: MIT
/* Native stacks of another process's threads with libdw: one Dwfl per
 * process whose modules are reported from the last non-empty copy of its
 * maps, and loaded (ELF, CFI, symbols) only when a stack is asked for,
 * before any thread is stopped: most watched processes never need one, and
 * a loaded module set costs megabytes. Thread state comes from our own
 * callbacks, which read the request in flight (a live thread stopped with
 * ptrace, or registers and a stack copy taken elsewhere).
 */
#define _GNU_SOURCE
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "native_stack.h"
#include "proc.h"
#include "thread_stop.h"

/* DWARF x86-64 register numbers: rax, rdx, rcx, rbx, rsi, rdi, rbp, rsp,
 * r8-r15, then the return address column (rip).
 */
enum { DW_RBX = 3, DW_RBP = 6, DW_RSP = 7, DW_R12 = 12, DW_R13, DW_R14, DW_R15, DW_RIP, DW_NREGS };

#define MEM_PAGE 4096
/* Symbol lookups remembered per unwinder (a few hundred frames of a few
 * dozen functions make a dump). */
#define SYM_CACHE 256
/* Enough for the 48 frames kept of an interpreter's stack. */
#define STACK_COPY (64 * 1024)

struct native_unwinder {
	pid_t pid;
	Dwfl *dwfl;
	/* Files are opened through it: still there once the process is gone. */
	struct proc_root root;
	char *maps;		 /* the modules reported come from this copy */
	uint64_t maps_signature; /* of its executable mappings */
	bool loaded;		 /* every reported module prepared */
	uint64_t last_use_ns;
	/* The Dwfl's architecture comes from this header, not from a module
	 * that a refresh could unload under it.
	 */
	Elf64_Ehdr arch_ehdr;
	Elf *arch_elf;

	/* The request in flight, read by the thread callbacks. */
	pid_t tid;
	Dwarf_Word regs[DW_NREGS];
	uint32_t regs_known; /* bit i: regs[i] is valid */
	const uint8_t *stack;
	size_t stack_len;
	uint64_t stack_addr;
	struct native_stack *out;
	bool activation[NATIVE_STACK_DEPTH]; /* pc is not a return address */
	Dwarf_Addr last_pc;
	Dwarf_Word last_sp;
	bool last_sp_known;
	/* libdw takes an unreadable return address for the outermost frame:
	 * a failed read while unwinding the last frame means we stopped early.
	 */
	bool read_failed;
	/* Stack slots whose return address a uretprobe replaced. */
	const struct gw_ret_fixup *fixups;
	unsigned nfixups;
	/* Unwinding reads a few words per frame, mostly from the same pages. */
	uint64_t page_addr;
	bool page_valid;
	uint8_t page[MEM_PAGE];

	struct thread_stop stopped;
	/* Symbols by address: libdw's lookup walks section headers each time,
	 * and the threads of a process share most of their frames.
	 */
	struct {
		Dwarf_Addr at;
		uint64_t off;
		bool valid, named;
		char symbol[96], module[64];
	} syms[SYM_CACHE];
	uint8_t stack_copy[STACK_COPY]; /* of a thread stopped for a moment */
};

/* Opens target files through /proc/PID/root: a target in another mount
 * namespace sees other files under the same paths.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	static const char deleted[] = " (deleted)";
	struct native_unwinder *u = *userdata;
	size_t len = strlen(name);
	char path[PATH_MAX + 32];
	struct stat st;
	int fd;

	/* The vDSO and unlinked files are read from the process's memory. */
	if (!u || name[0] != '/' ||
	    (len >= sizeof(deleted) - 1 && !strcmp(name + len - (sizeof(deleted) - 1), deleted)))
		return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
	proc_root__path(&u->root, name, path, sizeof(path));
	/* Only regular files: opening or reading a mapped device may block. */
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	*file_name = strdup(path);
	if (!*file_name) {
		close(fd);
		return -1;
	}
	return fd;
}

static char *debuginfo_path; /* NULL: libdw's default, ":.debug:/usr/lib/debug" */

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct native_unwinder *u = arg;

	if (*thread_argp || !u->tid)
		return 0;
	*thread_argp = u;
	return u->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct native_unwinder *u = arg;

	*thread_argp = u;
	return u->tid && tid == u->tid;
}

static bool read_live(struct native_unwinder *u, uint64_t addr, Dwarf_Word *result)
{
	uint64_t page = addr & ~(uint64_t)(MEM_PAGE - 1);

	if (addr - page > MEM_PAGE - sizeof(*result))
		return !proc__read_mem(u->pid, addr, result, sizeof(*result));
	if (!u->page_valid || u->page_addr != page) {
		u->page_valid = !proc__read_mem(u->pid, page, u->page, MEM_PAGE);
		u->page_addr = page;
		if (!u->page_valid)
			return false;
	}
	memcpy(result, u->page + (addr - page), sizeof(*result));
	return true;
}

/* The original return address if a uretprobe's trampoline sits at addr. */
static void apply_fixups(const struct native_unwinder *u, Dwarf_Addr addr, Dwarf_Word *result)
{
	unsigned i;

	for (i = 0; i < u->nfixups; i++) {
		if (u->fixups[i].stack == addr) {
			*result = u->fixups[i].orig;
			return;
		}
	}
}

void native_unwinder__set_ret_fixups(struct native_unwinder *u, const struct gw_ret_fixup *f,
				     unsigned n)
{
	u->fixups = f;
	u->nfixups = f ? n : 0;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct native_unwinder *u = arg;

	if (addr > UINT64_MAX - sizeof(*result)) {
		u->read_failed = true;
		return false;
	}
	if (u->stack && u->stack_len >= sizeof(*result) && addr >= u->stack_addr &&
	    addr - u->stack_addr <= u->stack_len - sizeof(*result)) {
		memcpy(result, u->stack + (addr - u->stack_addr), sizeof(*result));
		apply_fixups(u, addr, result);
		return true;
	}
	if (read_live(u, addr, result)) {
		apply_fixups(u, addr, result);
		return true;
	}
	u->read_failed = true;
	return false;
}

/* Hands libdw each run of consecutive known registers. */
static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct native_unwinder *u = arg;
	int first, i;

	if (!(u->regs_known & (1u << DW_RIP)) || !(u->regs_known & (1u << DW_RSP)))
		return false;
	for (i = 0; i < DW_NREGS; i++) {
		if (!(u->regs_known & (1u << i)))
			continue;
		first = i;
		while (i + 1 < DW_NREGS && (u->regs_known & (1u << (i + 1))))
			i++;
		if (!dwfl_thread_state_registers(thread, first, i - first + 1, &u->regs[first]))
			return false;
	}
	dwfl_thread_state_register_pc(thread, u->regs[DW_RIP]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

static void copy_name(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

static void lookup_symbol(struct native_unwinder *u, Dwarf_Addr at, struct native_frame *f,
			  uint64_t *off_out, bool *named)
{
	const char *name, *base, *sym;
	Dwfl_Module *mod;
	GElf_Off off;
	GElf_Sym s;

	mod = dwfl_addrmodule(u->dwfl, at);
	if (!mod)
		return;
	name = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	if (name && !strncmp(name, "[vdso", 5)) {
		copy_name(f->module, sizeof(f->module), "[vdso]");
	} else if (name) {
		base = strrchr(name, '/');
		copy_name(f->module, sizeof(f->module), base ? base + 1 : name);
	}
	sym = dwfl_module_addrinfo(mod, at, &off, &s, NULL, NULL, NULL);
	if (sym) {
		/* .symtab spells versioned libc symbols "clock_nanosleep@GLIBC_2.2.5". */
		snprintf(f->symbol, sizeof(f->symbol), "%.*s", (int)strcspn(sym, "@"), sym);
		*off_out = off;
		*named = true;
	}
}

static void symbolize(struct native_unwinder *u, bool activation, struct native_frame *f)
{
	/* A return address may be the first byte after the call's function. */
	Dwarf_Addr pc = f->ip, at = activation ? pc : pc - 1;
	size_t slot = (at ^ (at >> 10)) % SYM_CACHE;

	if (!u->syms[slot].valid || u->syms[slot].at != at) {
		struct native_frame fresh = {.ip = pc};

		u->syms[slot].named = false;
		lookup_symbol(u, at, &fresh, &u->syms[slot].off, &u->syms[slot].named);
		memcpy(u->syms[slot].symbol, fresh.symbol, sizeof(fresh.symbol));
		memcpy(u->syms[slot].module, fresh.module, sizeof(fresh.module));
		u->syms[slot].at = at;
		u->syms[slot].valid = true;
	}
	memcpy(f->symbol, u->syms[slot].symbol, sizeof(f->symbol));
	memcpy(f->module, u->syms[slot].module, sizeof(f->module));
	if (u->syms[slot].named)
		f->offset = u->syms[slot].off + (pc - at);
}

static int frame_cb(Dwfl_Frame *frame, void *arg)
{
	struct native_unwinder *u = arg;
	struct native_stack *st = u->out;
	bool activation, sp_known;
	Dwarf_Word sp = 0;
	Dwarf_Addr pc;

	u->read_failed = false;
	if (!dwfl_frame_pc(frame, &pc, &activation))
		goto stop;
	sp_known = dwfl_frame_reg(frame, DW_RSP, &sp) == 0;
	if (st->n && sp_known && u->last_sp_known) {
		/* Untrusted memory: a frame that does not move up the stack
		 * (callers live above callees; a signal frame may come from
		 * another stack) means the unwind is going in circles.
		 */
		if (sp == u->last_sp && pc == u->last_pc)
			goto stop;
		if (!activation && sp < u->last_sp)
			goto stop;
	}
	if (st->n == NATIVE_STACK_DEPTH)
		goto stop;
	/* Symbolized later: a stopped thread waits only for the unwind. */
	memset(&st->f[st->n], 0, sizeof(st->f[st->n]));
	st->f[st->n].ip = pc;
	u->activation[st->n++] = activation;
	u->last_pc = pc;
	u->last_sp = sp;
	u->last_sp_known = sp_known;
	return DWARF_CB_OK;
stop:
	st->truncated = 1;
	return DWARF_CB_ABORT;
}

static int unwind(struct native_unwinder *u, pid_t tid, struct native_stack *out)
{
	int ret;

	out->n = 0;
	out->truncated = 0;
	u->tid = tid;
	u->out = out;
	u->page_valid = false;
	u->last_sp_known = false;
	u->read_failed = false;
	ret = dwfl_getthread_frames(u->dwfl, tid, frame_cb, u);
	if (ret == -1) {
		gw_debug("native stack of %d/%d: %s after %u frames", u->pid, tid, dwfl_errmsg(-1),
			 out->n);
		out->truncated = 1;
	} else if (ret == 0 && u->read_failed) {
		gw_debug("native stack of %d/%d: unreadable stack after %u frames", u->pid, tid,
			 out->n);
		out->truncated = 1;
	}
	u->tid = 0;
	u->out = NULL;
	u->stack = NULL;
	u->regs_known = 0;
	return out->n ? 0 : -EIO;
}

static void symbolize_all(struct native_unwinder *u, struct native_stack *st)
{
	unsigned i;

	for (i = 0; i < st->n; i++)
		symbolize(u, u->activation[i], &st->f[i]);
}

/* What an unwind needs is loaded here, so that nothing slow happens while
 * a thread is stopped: .eh_frame (compiled code has it) and the symbols.
 * .debug_frame only if an unwind needs it: a detached debug file (libc's)
 * compresses it, and inflating it was most of a dump's time.
 */
static int prepare_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
			  void *arg)
{
	Dwarf_Addr bias;

	*userdata = arg; /* find_elf's way to the pid */
	/* Data files (locales, caches) are mapped too: not ELF, nothing to load. */
	if (!dwfl_module_getelf(mod, &bias))
		return DWARF_CB_OK;
	dwfl_module_eh_cfi(mod, &bias);
	dwfl_module_getsymtab(mod);
	return DWARF_CB_OK;
}

static void load_modules(struct native_unwinder *u)
{
	u->last_use_ns = monotonic_ns();
	if (u->loaded)
		return;
	dwfl_getmodules(u->dwfl, prepare_module, u, 0);
	u->loaded = true;
}

/* Up to STACK_COPY bytes of tid's stack from sp; how many were read. */
static size_t copy_stack(struct native_unwinder *u, pid_t tid, uint64_t sp)
{
	struct iovec local = {.iov_base = u->stack_copy, .iov_len = STACK_COPY};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)sp, .iov_len = STACK_COPY};
	ssize_t n;

	/* The stack may end sooner: a short read stops at the unmapped page. */
	n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	return n > 0 ? (size_t)n : 0;
}

int native_unwinder__thread(struct native_unwinder *u, pid_t tid, struct native_stack *out)
{
	struct user_regs_struct r;
	int ret, sig = 0;

	if (!u || !out)
		return -EINVAL;
	out->n = 0;
	out->truncated = 0;
	thread_stop__reap(&u->stopped);
	/* Nothing slow while the thread is stopped. */
	load_modules(u);
	ret = thread_stop__stop(&u->stopped, u->pid, tid, &r, &sig);
	if (ret)
		return ret;
	memcpy(u->regs,
	       (Dwarf_Word[DW_NREGS]){r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
				      r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip},
	       sizeof(u->regs));
	u->regs_known = (1u << DW_NREGS) - 1;
	/* Stopped only while its registers and the top of its stack are
	 * copied: the unwind reads the copy after it runs again.
	 */
	u->stack_len = copy_stack(u, tid, r.rsp);
	u->stack = u->stack_len ? u->stack_copy : NULL;
	u->stack_addr = r.rsp;
	thread_stop__release(u->pid, tid, sig);
	ret = unwind(u, tid, out);
	if (!ret)
		symbolize_all(u, out);
	return ret;
}

int native_unwinder__copy_stack(struct native_unwinder *u, pid_t tid, uint64_t sp)
{
	if (!u || !sp)
		return -EINVAL;
	u->stack_len = copy_stack(u, tid, sp);
	u->stack = u->stack_len ? u->stack_copy : NULL;
	u->stack_addr = sp;
	return u->stack_len ? 0 : -EFAULT;
}

/* ip, sp and the callee-saved registers, all known. */
static void set_regs(struct native_unwinder *u, const struct gw_user_regs *regs)
{
	u->regs[DW_RIP] = regs->ip;
	u->regs[DW_RSP] = regs->sp;
	u->regs[DW_RBP] = regs->bp;
	u->regs[DW_RBX] = regs->bx;
	u->regs[DW_R12] = regs->r12;
	u->regs[DW_R13] = regs->r13;
	u->regs[DW_R14] = regs->r14;
	u->regs[DW_R15] = regs->r15;
	u->regs_known = 1u << DW_RIP | 1u << DW_RSP | 1u << DW_RBP | 1u << DW_RBX | 1u << DW_R12 |
			1u << DW_R13 | 1u << DW_R14 | 1u << DW_R15;
}

int native_unwinder__blocked(struct native_unwinder *u, pid_t tid, uint64_t pc, uint64_t sp,
			     const struct gw_user_regs *saved, struct native_stack *out)
{
	int ret;

	if (!u || !out || !pc || !sp)
		return -EINVAL;
	out->n = 0;
	out->truncated = 0;
	if (saved && saved->ip == pc && saved->sp == sp) {
		set_regs(u, saved);
	} else {
		u->regs[DW_RIP] = pc;
		u->regs[DW_RSP] = sp;
		u->regs_known = 1u << DW_RIP | 1u << DW_RSP;
	}
	load_modules(u);
	ret = unwind(u, tid, out);
	if (!ret)
		symbolize_all(u, out);
	return ret;
}

int native_unwinder__snapshot(struct native_unwinder *u, pid_t tid, const struct gw_user_regs *regs,
			      const void *stack, size_t len, uint64_t stack_addr,
			      struct native_stack *out)
{
	int ret;

	if (!u || !regs || !out || (!stack && len))
		return -EINVAL;
	out->n = 0;
	out->truncated = 0;
	if (!regs->ip || !regs->sp)
		return -EINVAL;
	set_regs(u, regs);
	load_modules(u);
	u->stack = stack;
	u->stack_len = len;
	u->stack_addr = stack_addr;
	ret = unwind(u, tid ? tid : u->pid, out);
	if (!ret)
		symbolize_all(u, out);
	return ret;
}

/* Reports the modules of u->maps; those already reported at the same place
 * keep what was loaded, the others are dropped.
 */
static int report_maps(struct native_unwinder *u)
{
	FILE *f = fmemopen(u->maps, strlen(u->maps), "r");
	int ret, end;

	if (!f)
		return -errno;
	dwfl_report_begin(u->dwfl);
	ret = dwfl_linux_proc_maps_report(u->dwfl, f);
	end = dwfl_report_end(u->dwfl, NULL, NULL);
	fclose(f);
	/* Modules moved or reloaded: the names of addresses with them. */
	memset(u->syms, 0, sizeof(u->syms));
	if (ret || end) {
		gw_debug("native stacks: reporting modules of %d: %s", u->pid, dwfl_errmsg(-1));
		return -ENOMEM;
	}
	u->loaded = false;
	return 0;
}

static int sign_mapping(const struct proc_mapping *m, void *ctx)
{
	uint64_t *sig = ctx;

	if (m->perms[2] == 'x')
		*sig = (*sig ^ m->start) * 1099511628211ull; /* FNV-1a style */
	return 0;
}

int native_unwinder__refresh(struct native_unwinder *u)
{
	uint64_t sig = 14695981039346656037ull;
	char *maps;
	int ret;

	if (!u)
		return -EINVAL;
	thread_stop__reap(&u->stopped);
	ret = proc__maps(u->pid, &maps);
	if (ret)
		return ret == -ENOENT ? -ESRCH : ret;
	proc__for_each_mapping_in(maps, sign_mapping, &sig);
	/* An exiting process's maps are empty for a moment, then unreadable:
	 * what it had stays, to decode its last stacks.
	 */
	if (sig == 14695981039346656037ull) {
		free(maps);
		return -ESRCH;
	}
	if (u->maps && sig == u->maps_signature) {
		free(maps);
		return 0;
	}
	free(u->maps);
	u->maps = maps;
	u->maps_signature = sig;
	return report_maps(u);
}

void native_unwinder__trim(struct native_unwinder *u, uint64_t idle_ns)
{
	if (!u || !u->loaded || monotonic_ns() - u->last_use_ns < idle_ns)
		return;
	/* Dropping every module frees what was loaded; reported anew, they
	 * load again on the next use.
	 */
	dwfl_report_begin(u->dwfl);
	dwfl_report_end(u->dwfl, NULL, NULL);
	report_maps(u);
}

int native_unwinder__new(pid_t pid, struct native_unwinder **out)
{
	struct native_unwinder *u;
	int ret;

	if (!out || pid <= 0)
		return -EINVAL;
	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->pid = pid;
	ret = proc_root__open(&u->root, pid);
	if (ret) {
		free(u);
		return ret == -ENOENT ? -ESRCH : ret;
	}
	elf_version(EV_CURRENT);
	memcpy(u->arch_ehdr.e_ident, ELFMAG, SELFMAG);
	u->arch_ehdr.e_ident[EI_CLASS] = ELFCLASS64;
	u->arch_ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
	u->arch_ehdr.e_ident[EI_VERSION] = EV_CURRENT;
	u->arch_ehdr.e_type = ET_CORE;
	u->arch_ehdr.e_machine = EM_X86_64;
	u->arch_ehdr.e_version = EV_CURRENT;
	u->arch_ehdr.e_ehsize = sizeof(u->arch_ehdr);
	u->arch_elf = elf_memory((char *)&u->arch_ehdr, sizeof(u->arch_ehdr));
	u->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!u->arch_elf || !u->dwfl) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Attached once, for good: the callbacks read the request in flight. */
	if (!dwfl_attach_state(u->dwfl, u->arch_elf, pid, &thread_callbacks, u)) {
		gw_debug("native stacks: %s", dwfl_errmsg(-1));
		ret = -EINVAL;
		goto fail;
	}
	ret = native_unwinder__refresh(u);
	if (ret)
		goto fail;
	*out = u;
	return 0;
fail:
	native_unwinder__free(u);
	return ret;
}

void native_unwinder__free(struct native_unwinder *u)
{
	if (!u)
		return;
	if (u->dwfl)
		dwfl_end(u->dwfl);
	if (u->arch_elf)
		elf_end(u->arch_elf);
	proc_root__close(&u->root);
	free(u->maps);
	thread_stop__free(&u->stopped);
	free(u);
}
