// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug_offsets.h"
#include "lock_type.h"
#include "python_build.h"

/* What a recovered function must call is what it does itself in every
 * version: take_gil waits on the GIL's condvar with a timeout; drop_gil
 * signals it and waits on the switch condvar (FORCE_SWITCHING);
 * gc_collect_main prints its DEBUG_STATS lines and clears weak references.
 */
static const struct python_recovery gc_recovery = {
    .callers = {"PyGC_Collect"}, .calls = {"PySys_WriteStderr", "_PyWeakref_ClearRef"}};
static const struct python_recovery take_gil_recovery = {
    .callers = {"PyEval_RestoreThread", "PyEval_AcquireThread"},
    .calls = {"pthread_cond_timedwait"}};
static const struct python_recovery drop_gil_recovery = {
    .callers = {"PyEval_SaveThread", "PyEval_ReleaseThread"},
    .calls = {"pthread_cond_signal", "pthread_cond_wait"}};

/* 3.13+ no longer export it: sys._current_exceptions calls it, or has it
 * inlined; like _PyThread_CurrentFrames, it builds a dict.
 */
static const struct python_method_hint exceptions_method = {.method = "_current_exceptions",
							    .marker = "PyDict_New",
							    .check_method = "_current_frames",
							    .check_fn = "_PyThread_CurrentFrames"};

#define LOCK_ANCHOR "locked_lock"    /* only _thread.lock has it */
#define RLOCK_ANCHOR "_release_save" /* only _thread.RLock has it */
static const struct python_lock_function
    lock_acquire = {.anchor = LOCK_ANCHOR, .method = "acquire"},
    lock_enter = {.anchor = LOCK_ANCHOR, .method = "__enter__", .shares = PY_PROBE_LOCK_ACQUIRE},
    lock_release = {.anchor = LOCK_ANCHOR, .method = "release"},
    lock_exit = {.anchor = LOCK_ANCHOR, .method = "__exit__", .shares = PY_PROBE_LOCK_RELEASE},
    lock_new = {.anchor = LOCK_ANCHOR, .slot = LOCK_TYPE_TP_NEW},
    lock_dealloc = {.anchor = LOCK_ANCHOR, .slot = LOCK_TYPE_TP_DEALLOC},
    allocate_lock = {.anchor = "allocate_lock", .method = "allocate_lock"},
    rlock_acquire = {.anchor = RLOCK_ANCHOR, .method = "acquire", .rlock = true},
    rlock_enter = {.anchor = RLOCK_ANCHOR,
		   .method = "__enter__",
		   .rlock = true,
		   .shares = PY_PROBE_RLOCK_ACQUIRE},
    rlock_release = {.anchor = RLOCK_ANCHOR, .method = "release", .rlock = true},
    rlock_exit = {.anchor = RLOCK_ANCHOR,
		  .method = "__exit__",
		  .rlock = true,
		  .shares = PY_PROBE_RLOCK_RELEASE},
    rlock_restore = {.anchor = RLOCK_ANCHOR, .method = "_acquire_restore", .rlock = true},
    rlock_save = {.anchor = RLOCK_ANCHOR, .method = "_release_save", .rlock = true},
    rlock_new = {.anchor = RLOCK_ANCHOR, .slot = LOCK_TYPE_TP_NEW, .rlock = true},
    rlock_dealloc = {.anchor = RLOCK_ANCHOR, .slot = LOCK_TYPE_TP_DEALLOC, .rlock = true};

/* The probe plan for 3.10-3.15 (docs/probes.md): what each probe hooks and
 * how it falls back when a build lacks the symbol; the PyMutex lock probes
 * only where the lock types are PyMutexes.
 */
const struct python_probe_spec python_probes[PY_PROBE_COUNT] = {
    [PY_PROBE_GC] = {.name = "gc",
		     .symbol = "gc_collect_main",
		     .usdt_start = "gc__start",
		     .usdt_done = "gc__done",
		     .recovery = &gc_recovery},
    [PY_PROBE_FRAMES] = {.name = "current_frames", .symbol = "_PyThread_CurrentFrames"},
    [PY_PROBE_EXCEPTIONS] = {.name = "current_exceptions",
			     .symbol = "_PyThread_CurrentExceptions",
			     .method = &exceptions_method},
    [PY_PROBE_GIL_WAIT] = {.name = "gil_wait", .symbol = "pthread_cond_timedwait", .libc = true},
    /* The function's symbol first, then the instruction after its HEAD_LOCK call. */
    [PY_PROBE_FRAMES_HEAD_LOCK] = {.name = "current_frames_head_lock",
				   .symbol = "_PyThread_CurrentFrames"},
    [PY_PROBE_EXCEPTIONS_HEAD_LOCK] = {.name = "current_exceptions_head_lock",
				       .symbol = "_PyThread_CurrentExceptions",
				       .method = &exceptions_method},
    [PY_PROBE_SEM_WAIT] = {.name = "sem_wait", .symbol = "sem_wait", .deep = true, .libc = true},
    [PY_PROBE_SEM_CLOCKWAIT] = {.name = "sem_clockwait",
				.symbol = "sem_clockwait",
				.deep = true,
				.libc = true},
    [PY_PROBE_SEM_TIMEDWAIT] = {.name = "sem_timedwait",
				.symbol = "sem_timedwait",
				.deep = true,
				.libc = true},
    [PY_PROBE_TAKE_GIL] = {.name = "take_gil",
			   .symbol = "take_gil",
			   .deep = true,
			   .recovery = &take_gil_recovery},
    [PY_PROBE_DROP_GIL] = {.name = "drop_gil",
			   .symbol = "drop_gil",
			   .deep = true,
			   .recovery = &drop_gil_recovery},
    [PY_PROBE_SEM_TRYWAIT] = {.name = "sem_trywait",
			      .symbol = "sem_trywait",
			      .deep = true,
			      .libc = true},
    [PY_PROBE_SEM_POST] = {.name = "sem_post", .symbol = "sem_post", .deep = true, .libc = true},
    [PY_PROBE_LOCK_ALLOC] = {.name = "lock_alloc",
			     .symbol = "sem_init",
			     .deep = true,
			     .libc = true},
    [PY_PROBE_PARK] = {.name = "park", .symbol = "_PySemaphore_Wait", .deep = true},
    [PY_PROBE_LOCK_ACQUIRE] = {.name = "lock_acquire", .deep = true, .lock = &lock_acquire},
    [PY_PROBE_LOCK_ENTER] = {.name = "lock_enter", .deep = true, .lock = &lock_enter},
    [PY_PROBE_LOCK_RELEASE] = {.name = "lock_release", .deep = true, .lock = &lock_release},
    [PY_PROBE_LOCK_EXIT] = {.name = "lock_exit", .deep = true, .lock = &lock_exit},
    [PY_PROBE_LOCK_NEW] = {.name = "lock_new", .deep = true, .lock = &lock_new},
    [PY_PROBE_ALLOCATE_LOCK] = {.name = "allocate_lock", .deep = true, .lock = &allocate_lock},
    [PY_PROBE_LOCK_DEALLOC] = {.name = "lock_dealloc", .deep = true, .lock = &lock_dealloc},
    [PY_PROBE_RLOCK_ACQUIRE] = {.name = "rlock_acquire", .deep = true, .lock = &rlock_acquire},
    [PY_PROBE_RLOCK_ENTER] = {.name = "rlock_enter", .deep = true, .lock = &rlock_enter},
    [PY_PROBE_RLOCK_RELEASE] = {.name = "rlock_release", .deep = true, .lock = &rlock_release},
    [PY_PROBE_RLOCK_EXIT] = {.name = "rlock_exit", .deep = true, .lock = &rlock_exit},
    [PY_PROBE_RLOCK_RESTORE] = {.name = "rlock_acquire_restore",
				.deep = true,
				.lock = &rlock_restore},
    [PY_PROBE_RLOCK_SAVE] = {.name = "rlock_release_save", .deep = true, .lock = &rlock_save},
    [PY_PROBE_RLOCK_NEW] = {.name = "rlock_new", .deep = true, .lock = &rlock_new},
    [PY_PROBE_RLOCK_DEALLOC] = {.name = "rlock_dealloc", .deep = true, .lock = &rlock_dealloc},
};

bool python_build__pymutex_lock(const struct python_build *b)
{
	return b->major == 3 && (b->minor > 13 || (b->minor == 13 && b->micro >= 1));
}

bool python_build__pymutex_rlock(const struct python_build *b)
{
	return b->major == 3 && b->minor >= 14;
}

const char *const head_lock_calls[] = {"PyThread_acquire_lock", "PyThread_acquire_lock_timed",
				       NULL};

/* 3.10-3.12, which have no _Py_DebugOffsets: measured with offsetof()
 * against each version's internal headers.
 */
static const struct python_layout layouts[] = {
    {.minor = 10,
     .runtime_gil = 352,
     .runtime_interp_head = 32,
     .runtime_head_lock = 24,
     .interp_gc_collecting = 816,
     .gil_last_holder = 8,
     .gil_locked = 16,
     .gil_cond = 32,
     .gil_switch_number = 24,
     .tstate_thread_id = 176,
     .stack = {.interp_threads_head = 8,
	       .tstate_next = 8,
	       .tstate_frame = 24,
	       .frame_previous = 24,
	       .frame_code = 32,
	       .frame_instr = 96,
	       .code_filename = 104,
	       .code_name = 112,
	       .code_firstlineno = 40,
	       .code_linetable = 120,
	       .unicode_length = 16,
	       .unicode_state = 32,
	       .unicode_ascii_data = 48,
	       .unicode_compact_data = 72,
	       .bytes_size = 16,
	       .bytes_data = 32,
	       .frame_lasti_is_index = 1}},
    {.minor = 11,
     .runtime_gil = 360,
     .runtime_interp_head = 40,
     .runtime_head_lock = 32,
     .interp_gc_collecting = 848,
     .gil_last_holder = 8,
     .gil_locked = 16,
     .gil_cond = 32,
     .gil_switch_number = 24,
     .tstate_thread_id = 152,
     .tstate_native_thread_id = 160,
     .stack = {.interp_threads_head = 16,
	       .tstate_next = 8,
	       .tstate_frame = 56,
	       .cframe_current_frame = 8,
	       .frame_via_cframe = 1,
	       .frame_previous = 48,
	       .frame_code = 32,
	       .frame_instr = 56,
	       .frame_owner = 69,
	       .code_filename = 112,
	       .code_name = 120,
	       .code_qualname = 128,
	       .code_firstlineno = 72,
	       .code_linetable = 136,
	       .code_adaptive = 184,
	       .unicode_length = 16,
	       .unicode_state = 32,
	       .unicode_ascii_data = 48,
	       .unicode_compact_data = 72,
	       .bytes_size = 16,
	       .bytes_data = 32}},
    {.minor = 12,
     .runtime_interp_head = 40,
     .runtime_head_lock = 32,
     .interp_ceval_gil = 384,
     .interp_gc_collecting = 312,
     .gil_last_holder = 8,
     .gil_locked = 16,
     .gil_cond = 32,
     .gil_switch_number = 24,
     .tstate_thread_id = 136,
     .tstate_native_thread_id = 144,
     .stack = {.interp_threads_head = 72,
	       .tstate_next = 8,
	       .tstate_frame = 56,
	       .cframe_current_frame = 0,
	       .frame_via_cframe = 1,
	       .frame_previous = 8,
	       .frame_code = 0,
	       .frame_instr = 56,
	       .frame_owner = 70,
	       .frame_owner_shim = 3,
	       .code_filename = 112,
	       .code_name = 120,
	       .code_qualname = 128,
	       .code_firstlineno = 68,
	       .code_linetable = 136,
	       .code_adaptive = 192,
	       .unicode_length = 16,
	       .unicode_state = 32,
	       .unicode_ascii_data = 40,
	       .unicode_compact_data = 56,
	       .bytes_size = 16,
	       .bytes_data = 32}},
};

int python_version__from_filename(const char *path, unsigned *major, unsigned *minor)
{
	const char *base = strrchr(path, '/'), *p;

	base = base ? base + 1 : path;
	p = strstr(base, "python");
	if (!p)
		return -ENOENT;
	p += strlen("python");
	if (!isdigit((unsigned char)*p) || sscanf(p, "%u.%u", major, minor) != 2)
		return -ENOENT;
	return 0;
}

/* The PY_VERSION literal ("3.10.13") is often merged into the tail of a
 * longer string (a path): accept "<major>.<minor>.<micro>\0" after a
 * non-version character.
 */
static int micro_from_image(struct elf_file *ef, unsigned major, unsigned minor, unsigned *micro)
{
	char prefix[16];
	const char *data, *p, *end;
	size_t len, plen;

	if (elf_file__section(ef, ".rodata", &data, &len))
		return -ENOENT;
	plen = snprintf(prefix, sizeof(prefix), "%u.%u.", major, minor);
	end = data + len;
	for (p = data; (p = memmem(p, end - p, prefix, plen)); p++) {
		const char *q = p + plen;

		if (p > data && (isdigit((unsigned char)p[-1]) || p[-1] == '.'))
			continue;
		if (q >= end || !isdigit((unsigned char)*q))
			continue;
		while (q < end && isdigit((unsigned char)*q))
			q++;
		if (q < end && *q == '\0') {
			*micro = strtoul(p + plen, NULL, 10);
			return 0;
		}
	}
	return -ENOENT;
}

/* "python3.14t", "libpython3.14t.so.1.0": the ABI suffix of free-threaded
 * builds (Py_GIL_DISABLED), for builds whose table does not say.
 */
static bool free_threaded_name(const char *path)
{
	const char *base = strrchr(path, '/'), *p;
	unsigned major, minor;
	int end = 0;

	base = base ? base + 1 : path;
	p = strstr(base, "python");
	return p && sscanf(p, "python%u.%u%n", &major, &minor, &end) == 2 && end && p[end] == 't';
}

int python_build__detect(struct elf_file *ef, const char *path, struct python_build *b)
{
	struct elf_symbol sym;
	uint32_t hex;

	memset(b, 0, sizeof(*b));
	elf_file__build_id(ef, b->build_id, sizeof(b->build_id));
	if (!elf_file__find_symbol(ef, "Py_Version", &sym) &&
	    !elf_file__read(ef, sym.vaddr, &hex, sizeof(hex))) {
		b->major = hex >> 24;
		b->minor = (hex >> 16) & 0xff;
		b->micro = (hex >> 8) & 0xff;
	} else {
		if (python_version__from_filename(path, &b->major, &b->minor))
			return -ENOENT;
		if (micro_from_image(ef, b->major, b->minor, &b->micro))
			snprintf(b->version, sizeof(b->version), "%u.%u", b->major, b->minor);
	}
	if (!b->version[0])
		snprintf(b->version, sizeof(b->version), "%u.%u.%u", b->major, b->minor, b->micro);
	b->free_threaded = free_threaded_name(path);
	return 0;
}

int python_build__resolve_layout(struct elf_file *ef, struct python_build *b)
{
	uint8_t raw[DEBUG_OFFSETS_MAX];
	struct elf_symbol runtime;
	struct debug_offsets_id id;
	size_t i;
	int err;

	if (b->major != 3 || b->free_threaded)
		return -EPROTONOSUPPORT;
	/* 3.13+: the build's own table, however new; older ones have none. */
	if (b->minor >= 13) {
		if (elf_file__find_symbol(ef, "_PyRuntime", &runtime) ||
		    elf_file__read(ef, runtime.vaddr, raw, sizeof(raw)))
			return -ENOENT;
		err = debug_offsets__parse(raw, sizeof(raw), &b->layout, &id);
		if (err != -ENOENT) {
			/* The table names the build it describes. */
			b->major = id.major;
			b->minor = id.minor;
		}
		b->free_threaded = id.free_threaded;
		b->layout_unknown = err == -EPROTONOSUPPORT && !id.free_threaded;
		if (!err)
			b->layout_from_debug_offsets = 1;
		return err == -ENOENT ? -EPROTONOSUPPORT : err;
	}
	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		if (layouts[i].minor == b->minor) {
			b->layout = layouts[i];
			return 0;
		}
	}
	return -EPROTONOSUPPORT;
}
