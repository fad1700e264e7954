// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "disasm.h"
#include "log.h"
#include "proc.h"
#include "symbol_ladder.h"
#include "lock_type.h"
#include "method_table.h"
#include "target.h"

struct find_ctx {
	struct gw_target *t;
	int found_python;
};

static int consider_mapping(const struct proc_mapping *m, void *arg)
{
	struct find_ctx *ctx = arg;
	struct gw_target *t = ctx->t;
	const char *base = strrchr(m->path, '/') + 1;
	struct elf_symbol sym;
	struct elf_file ef;
	char file[PATH_MAX];
	int is_libc;

	struct stat st;

	/* One look per file, at its code; never a device or a FIFO. */
	if (m->perms[2] != 'x')
		return 0;
	is_libc = !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5);
	if (ctx->found_python && (!is_libc || t->libc_file[0]))
		return 0;
	proc__root_path(t->pid, m->path, file, sizeof(file));
	if (stat(file, &st) || !S_ISREG(st.st_mode) || elf_file__open(&ef, file))
		return 0;
	if (is_libc && !t->libc_file[0]) {
		snprintf(t->libc_file, sizeof(t->libc_file), "%s", file);
	} else if (!ctx->found_python && !elf_file__find_symbol(&ef, "Py_GetVersion", &sym) &&
		   !elf_file__load_bias(&ef, m->start, m->pgoff, &t->python_bias)) {
		ctx->found_python = 1;
		snprintf(t->python_path, sizeof(t->python_path), "%s", m->path);
		snprintf(t->python_file, sizeof(t->python_file), "%s", file);
	}
	elf_file__close(&ef);
	return ctx->found_python && t->libc_file[0];
}

static void resolve_libc(struct gw_target *t)
{
	struct elf_symbol sym;
	struct elf_file ef;
	uint32_t desc[3];

	int i, err;

	for (i = 0; i < PY_PROBE_COUNT; i++) {
		if (python_probes[i].libc)
			t->absent[i] = PROBE_NOT_IN_LIBC;
	}
	if (!t->libc_file[0] || elf_file__open(&ef, t->libc_file))
		return;
	for (i = 0; i < PY_PROBE_COUNT; i++) {
		if (python_probes[i].libc)
			t->absent[i] =
			    elf_file__find_symbol(&ef, python_probes[i].symbol, &t->sym[i])
				? PROBE_NOT_IN_LIBC
				: PROBE_PRESENT;
	}
	if (!t->absent[PY_PROBE_GIL_WAIT]) {
		err = libc_condvar__find_sleep(&ef, &t->gil_sleep);
		if (err)
			t->absent[PY_PROBE_GIL_WAIT] =
			    err == -EPROTO ? PROBE_CONDVAR_UNKNOWN : PROBE_NOT_IN_LIBC;
	}
	/* libthread_db's descriptor of struct pthread's tid: {bits, count, offset}. */
	if (!elf_file__find_symbol(&ef, "_thread_db_pthread_tid", &sym) &&
	    !elf_file__read(&ef, sym.vaddr, desc, sizeof(desc)))
		t->pthread_tid_offset = desc[2];
	elf_file__close(&ef);
}

/* The main interpreter's GIL: inside _PyRuntime up to 3.11, behind
 * interp->ceval.gil from 3.12.
 */
static uint64_t resolve_gil(struct gw_target *t, uint64_t runtime)
{
	const struct python_layout *l = &t->build.layout;
	uint64_t interp = 0, gil = 0;
	int locked = -1;

	if (l->runtime_gil) {
		gil = runtime + l->runtime_gil;
	} else if (proc__read_mem(t->pid, runtime + l->runtime_interp_head, &interp,
				  sizeof(interp)) ||
		   !interp ||
		   proc__read_mem(t->pid, interp + l->interp_ceval_gil, &gil, sizeof(gil))) {
		return 0;
	}
	/* A created GIL has locked == 0 or 1 (-1 before creation). */
	if (!gil || proc__read_mem(t->pid, gil + l->gil_locked, &locked, sizeof(locked)) ||
	    (locked != 0 && locked != 1))
		return 0;
	return gil;
}

static uint64_t resolve_gc_stats(struct gw_target *t, uint64_t runtime)
{
	const struct python_layout *l = &t->build.layout;
	uint64_t interp = 0;

	if (!l->interp_gc_stats ||
	    proc__read_mem(t->pid, runtime + l->runtime_interp_head, &interp, sizeof(interp)) ||
	    !interp)
		return 0;
	return interp + l->interp_gc_stats;
}

/* The body a compiler split off into .text.unlikely (a "cold" part, where
 * GCC puts USDT probe code) jumps back into: the function's hot part.
 */
static int hot_part(struct elf_file *ef, uint64_t start, uint64_t end, uint64_t *hot_start,
		    uint64_t *hot_end)
{
	uint64_t targets[64];
	uint8_t code[4096];
	size_t len = end - start < sizeof(code) ? end - start : sizeof(code);
	int n, i;

	if (elf_file__read(ef, start, code, len))
		return -EIO;
	n = disasm__jump_targets(code, len, start, targets, 64);
	for (i = 0; i < n; i++) {
		if ((targets[i] < start || targets[i] >= end) &&
		    !elf_file__function_range(ef, targets[i], hot_start, hot_end))
			return 0;
	}
	return -ENOENT;
}

/* Names the code at [start, end) of the Python ELF in stacks. */
static void add_known(struct gw_target *t, const char *name, uint64_t start, uint64_t end)
{
	size_t i;

	for (i = 0; i < sizeof(t->known) / sizeof(t->known[0]); i++) {
		if (!t->known[i].name) {
			t->known[i].name = name;
			t->known[i].start = t->python_bias + start;
			t->known[i].end = t->python_bias + end;
			return;
		}
	}
}

/* The frame-collection functions hold HEAD_LOCK from the return of their
 * first lock call (HEAD_LOCK's; before it, PyDict_New() may collect without
 * it) to their own return; a probe there tells who holds it.
 */
static void resolve_head_lock_sites(struct gw_target *t, struct elf_file *ef)
{
	int i;

	for (i = PY_PROBE_FRAMES_HEAD_LOCK; i <= PY_PROBE_EXCEPTIONS_HEAD_LOCK; i++) {
		if (!t->build.layout.runtime_head_lock)
			t->absent[i] = PROBE_HEAD_LOCK_PYMUTEX;
		else if (!t->absent[i] &&
			 disasm__call_return(ef, &t->sym[i], head_lock_calls, &t->sym[i]))
			t->absent[i] = PROBE_NO_HEAD_LOCK_CALL;
	}
}

/* A threading lock type's function, where that type is a PyMutex. */
static enum probe_absence resolve_lock_function(struct gw_target *t, struct elf_file *ef,
						const struct python_lock_function *f,
						struct elf_symbol *sym)
{
	if (!(f->rlock ? python_build__pymutex_rlock : python_build__pymutex_lock)(&t->build))
		return PROBE_SEMAPHORE_LOCK;
	return lock_type__function(ef, f->anchor, f->method, f->slot, sym) ? PROBE_NOT_FOUND
									   : PROBE_PRESENT;
}

/* The Python ELF's probe functions down the symbol ladder, debug files
 * looked up in the target's root, then the host's. USDT comes before a
 * disassembly for GC: exact start and done, whatever the compiler split.
 */
static void resolve_python_symbols(struct gw_target *t, struct elf_file *ef)
{
	char in_root[PATH_MAX];
	const char *debug_dirs[] = {in_root, "/usr/lib/debug", NULL};
	struct symbol_ladder l;
	enum probe_absence absent;
	int i;

	proc__root_path(t->pid, "/usr/lib/debug", in_root, sizeof(in_root));
	symbol_ladder__init(&l, ef, debug_dirs);
	for (i = 0; i < PY_PROBE_COUNT; i++) {
		const struct python_probe_spec *p = &python_probes[i];
		const struct python_recovery *r = p->recovery;

		if (i == PY_PROBE_GC && t->gc_usdt)
			r = NULL;
		/* 3.15 keeps no per-generation counters that tell which
		 * generation an automatic collection picked: gc__start says.
		 */
		if (i == PY_PROBE_GC && t->gc_usdt && t->build.minor >= 13 &&
		    !t->build.layout.interp_gc_stats) {
			t->absent[i] = PROBE_NOT_FOUND;
			continue;
		}
		if (p->libc)
			continue;
		if (p->lock) {
			t->absent[i] = resolve_lock_function(t, ef, p->lock, &t->sym[i]);
			/* One uprobe per function: its probe covers this method. */
			if (!t->absent[i] && p->lock->shares && !t->absent[p->lock->shares] &&
			    t->sym[p->lock->shares].vaddr == t->sym[i].vaddr)
				t->absent[i] = PROBE_SHARED_FUNCTION;
			continue;
		}
		if (i == PY_PROBE_PARK && !python_build__pymutex_lock(&t->build)) {
			t->absent[i] = PROBE_SEMAPHORE_LOCK;
			continue;
		}
		t->absent[i] = symbol_ladder__find(&l, p->symbol, r ? r->callers : NULL,
						   r ? r->calls : NULL, &t->sym[i]) &&
				       (!p->method || method_table__callee(
							  ef, p->method->method, p->method->marker,
							  p->method->check_method,
							  p->method->check_fn, &t->sym[i]))
				   ? PROBE_NOT_FOUND
				   : PROBE_PRESENT;
	}
	head_lock_sites__resolve(&t->head_lock_sites, &t->build, t->python_bias, ef, &l);
	symbol_ladder__close(&l);
	for (i = 0; i < PY_PROBE_COUNT; i++) {
		if (python_probes[i].recovery && !t->absent[i])
			add_known(t, python_probes[i].symbol, t->sym[i].vaddr,
				  t->sym[i].vaddr + t->sym[i].size);
	}
	/* --deep times a hold from take_gil's return to drop_gil: one without
	 * the other leaves holds open (Debian's python3.11 inlines drop_gil
	 * into PyEval_SaveThread).
	 */
	absent = t->absent[PY_PROBE_TAKE_GIL] ? t->absent[PY_PROBE_TAKE_GIL]
					      : t->absent[PY_PROBE_DROP_GIL];
	t->absent[PY_PROBE_TAKE_GIL] = t->absent[PY_PROBE_DROP_GIL] = absent;
	resolve_head_lock_sites(t, ef);
}

/* Stripped, gc_collect_main() without a symbol: the function around its
 * USDT probe (CFI), and the hot part that one jumps back into.
 */
static void name_gc_from_usdt(struct gw_target *t, struct elf_file *ef)
{
	const char *name = python_probes[PY_PROBE_GC].symbol;
	uint64_t pc, start, end, hot_start, hot_end;

	if (!t->absent[PY_PROBE_GC] || !t->gc_usdt ||
	    elf_file__usdt_pc(ef, "python", python_probes[PY_PROBE_GC].usdt_start, &pc) ||
	    elf_file__function_range(ef, pc, &start, &end))
		return;
	add_known(t, name, start, end);
	if (!hot_part(ef, start, end, &hot_start, &hot_end))
		add_known(t, name, hot_start, hot_end);
}

const char *target__known_function(const struct gw_target *t, uint64_t pc, uint64_t *offset)
{
	size_t i;

	for (i = 0; i < sizeof(t->known) / sizeof(t->known[0]) && t->known[i].name; i++) {
		if (pc >= t->known[i].start && pc < t->known[i].end) {
			*offset = pc - t->known[i].start;
			return t->known[i].name;
		}
	}
	return NULL;
}

int target__open(struct gw_target *t, pid_t pid)
{
	struct find_ctx ctx = {.t = t};
	struct elf_symbol runtime, sym;
	struct elf_file ef;
	int err;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (proc__comm(pid, pid, t->comm, sizeof(t->comm)))
		return -ESRCH;
	t->tgid = proc__tgid(pid);
	if (t->tgid > 0 && t->tgid != pid)
		return -ECHILD;
	err = proc__for_each_mapping(pid, consider_mapping, &ctx);
	if (err < 0)
		return err == -ENOENT ? -ESRCH : err;
	if (!ctx.found_python)
		return proc__exited(pid) ? -ESRCH : -ENOEXEC;
	err = elf_file__open(&ef, t->python_file);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = python_build__detect(&ef, t->python_path, &t->build);
	if (!err)
		err = python_build__resolve_layout(&ef, &t->build);
	if (err)
		goto out;
	t->gc_usdt = elf_file__has_usdt(&ef, "python", python_probes[PY_PROBE_GC].usdt_start);
	resolve_python_symbols(t, &ef);
	name_gc_from_usdt(t, &ef);
	if (!elf_file__find_symbol(&ef, "PyCode_Type", &sym))
		t->code_type = t->python_bias + sym.vaddr;
	if (!elf_file__find_symbol(&ef, "_Py_TrueStruct", &sym))
		t->py_true = t->python_bias + sym.vaddr;
	if (!elf_file__find_symbol(&ef, "_Py_NoneStruct", &sym))
		t->py_none = t->python_bias + sym.vaddr;
	if (!elf_file__find_symbol(&ef, "_PyRuntime", &runtime)) {
		t->runtime = t->python_bias + runtime.vaddr;
		t->gil = resolve_gil(t, t->python_bias + runtime.vaddr);
		t->gc_stats = resolve_gc_stats(t, t->python_bias + runtime.vaddr);
		if (t->build.layout.runtime_head_lock)
			t->head_lock_field =
			    t->python_bias + runtime.vaddr + t->build.layout.runtime_head_lock;
	}
	resolve_libc(t);
	if (!t->gil)
		t->absent[PY_PROBE_GIL_WAIT] = PROBE_NO_GIL_STATE;
out:
	elf_file__close(&ef);
	return err;
}

struct copy_check {
	const struct gw_target *t;
	bool same;
};

static int same_python_mapping(const struct proc_mapping *m, void *arg)
{
	struct copy_check *c = arg;
	struct elf_file ef;
	char file[PATH_MAX];
	uint64_t bias;

	if (m->perms[2] != 'x' || strcmp(m->path, c->t->python_path))
		return 0;
	proc__root_path(c->t->pid, m->path, file, sizeof(file));
	if (elf_file__open(&ef, file))
		return 1;
	c->same = !elf_file__load_bias(&ef, m->start, m->pgoff, &bias) && bias == c->t->python_bias;
	elf_file__close(&ef);
	return 1;
}

bool target__forked_copy(const struct gw_target *t, pid_t child)
{
	struct copy_check c = {.t = t};
	char mine[512], its[512];

	/* Same path and load address: an exec would have moved it (ASLR). And
	 * the same command line: without ASLR, a spawned worker's differs.
	 */
	proc__for_each_mapping(child, same_python_mapping, &c);
	return c.same && !proc__cmdline(t->pid, mine, sizeof(mine)) &&
	       !proc__cmdline(child, its, sizeof(its)) && !strcmp(mine, its);
}

uint64_t target__head_lock(const struct gw_target *t)
{
	uint64_t sem = 0;

	if (!t->head_lock_field || proc__read_mem(t->pid, t->head_lock_field, &sem, sizeof(sem)))
		return 0;
	return sem;
}

int target__gil_switches(const struct gw_target *t, uint64_t *n)
{
	if (!t->gil)
		return -EADDRNOTAVAIL;
	return proc__read_mem(t->pid, t->gil + t->build.layout.gil_switch_number, n, sizeof(*n));
}

int target__tstate_tid(const struct gw_target *t, uint64_t tstate, pid_t *tid)
{
	const struct python_layout *l = &t->build.layout;
	uint64_t pthread = 0;
	int native = 0, err;

	*tid = 0;
	if (l->tstate_native_thread_id) {
		err = proc__read_mem(t->pid, tstate + l->tstate_native_thread_id, &native,
				     sizeof(native));
	} else if (t->pthread_tid_offset) {
		/* 3.10 keeps only pthread_self(): glibc's struct pthread has the tid. */
		err =
		    proc__read_mem(t->pid, tstate + l->tstate_thread_id, &pthread, sizeof(pthread));
		if (!err)
			err = proc__read_mem(t->pid, pthread + t->pthread_tid_offset, &native,
					     sizeof(native));
	} else {
		return -ENOTSUP;
	}
	if (!err)
		*tid = native;
	return err;
}

int target__gil_holder(const struct gw_target *t, pid_t *tid)
{
	const struct python_layout *l = &t->build.layout;
	uint64_t tstate = 0;
	int locked = 0, err;

	*tid = 0;
	if (!t->gil)
		return -EADDRNOTAVAIL;
	err = proc__read_mem(t->pid, t->gil + l->gil_locked, &locked, sizeof(locked));
	if (err || !locked)
		return err;
	err = proc__read_mem(t->pid, t->gil + l->gil_last_holder, &tstate, sizeof(tstate));
	if (err || !tstate)
		return err;
	return target__tstate_tid(t, tstate, tid);
}

int target__threads(const struct gw_target *t, struct target_thread *out, unsigned max)
{
	const struct python_layout *l = &t->build.layout;
	uint64_t interp = 0, tstate = 0;
	unsigned n = 0, i;
	int err;

	if (!t->runtime)
		return -EADDRNOTAVAIL;
	err = proc__read_mem(t->pid, t->runtime + l->runtime_interp_head, &interp, sizeof(interp));
	if (!err && interp)
		err = proc__read_mem(t->pid, interp + l->stack.interp_threads_head, &tstate,
				     sizeof(tstate));
	if (err)
		return err;
	while (tstate && n < max) {
		/* A cycle in a changing list: stop at the first repeat. */
		for (i = 0; i < n && out[i].tstate != tstate; i++)
			;
		if (i < n)
			break;
		out[n].tstate = tstate;
		if (target__tstate_tid(t, tstate, &out[n].tid))
			out[n].tid = 0;
		n++;
		if (proc__read_mem(t->pid, tstate + l->stack.tstate_next, &tstate, sizeof(tstate)))
			break;
	}
	return n;
}

void target__absence(const struct gw_target *t, int probe, bool stripped, char *buf, size_t len)
{
	const struct python_lock_function *lock = python_probes[probe].lock;
	const char *what = python_probes[probe].symbol;
	char name[64];

	if (lock) {
		snprintf(name, sizeof(name), "_thread.%s %s", lock->rlock ? "RLock" : "lock",
			 lock->slot == LOCK_TYPE_TP_NEW	      ? "tp_new"
			 : lock->slot == LOCK_TYPE_TP_DEALLOC ? "tp_dealloc"
							      : lock->method);
		what = name;
	}

	switch (t->absent[probe]) {
	case PROBE_PRESENT:
		snprintf(buf, len, "present");
		break;
	case PROBE_NOT_FOUND:
		snprintf(buf, len, "%s not found%s", what, stripped ? " (stripped)" : "");
		break;
	case PROBE_NOT_IN_LIBC:
		snprintf(buf, len, "%s not in libc", what);
		break;
	case PROBE_NO_GIL_STATE:
		snprintf(buf, len, "GIL state not found in _PyRuntime");
		break;
	case PROBE_CONDVAR_UNKNOWN:
		snprintf(buf, len, "libc's condvar wait not recognized");
		break;
	case PROBE_HEAD_LOCK_PYMUTEX:
		snprintf(buf, len, "HEAD_LOCK is a PyMutex (3.13+)");
		break;
	case PROBE_NO_HEAD_LOCK_CALL:
		snprintf(buf, len, "no HEAD_LOCK call found in %s", what);
		break;
	case PROBE_SHARED_FUNCTION:
		snprintf(buf, len, "%s's function", python_probes[lock->shares].name);
		break;
	case PROBE_SEMAPHORE_LOCK:
		snprintf(buf, len, "threading.%s is a semaphore before %s: sem_* probes",
			 lock && lock->rlock ? "RLock" : "Lock",
			 lock && lock->rlock ? "3.14" : "3.13.1");
		break;
	}
}
