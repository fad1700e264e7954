// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "lock_object.h"

/* PyObject_HEAD, then the RLock's fields (measured on 3.10.13, 3.11.7,
 * 3.12.1, 3.13.0 and Debian's 3.11.2: {PyThread_type_lock; owner; count};
 * 3.14 and 3.15 keep a _PyRecursiveMutex {PyMutex; thread; level} there).
 */
#define OB_TYPE 8
#define RLOCK_LOCK 16
#define RLOCK_OWNER 24
#define RLOCK_COUNT 32
#define TP_NAME 24	  /* PyTypeObject.tp_name, after PyObject_VAR_HEAD */
#define CFUNCTION_SELF 24 /* PyCFunctionObject.m_self: a bound builtin method */
#define FRAMES 4	  /* innermost frames searched */
/* A frame's header, locals and value stack: 3.11+ frames are a few words
 * of header and their slots; 3.10's frame object keeps them from about
 * 0x160 on.
 */
#define WINDOW_3_11 512
#define WINDOW_3_10 1024
#define TYPES 8

enum type_kind { TYPE_OTHER, TYPE_RLOCK, TYPE_BUILTIN_METHOD };

/* Types met in one search, by their tp_name. */
struct type_cache {
	uint64_t addr[TYPES];
	enum type_kind kind[TYPES];
	unsigned n;
};

static int rd(const struct mem_source *mem, uint64_t addr, void *buf, size_t len)
{
	if (addr < 4096 || addr + len < addr)
		return -EFAULT;
	return mem->read(mem->ctx, addr, buf, len);
}

static uint64_t u64(const struct mem_source *mem, uint64_t addr)
{
	uint64_t v = 0;

	return rd(mem, addr, &v, sizeof(v)) ? 0 : v;
}

static enum type_kind kind_of(const struct mem_source *mem, struct type_cache *c, uint64_t type)
{
	enum type_kind k = TYPE_OTHER;
	char name[32] = "";
	unsigned i;

	for (i = 0; i < c->n; i++) {
		if (c->addr[i] == type)
			return c->kind[i];
	}
	if (!rd(mem, u64(mem, type + TP_NAME), name, sizeof(name) - 1)) {
		if (!strcmp(name, "_thread.RLock"))
			k = TYPE_RLOCK;
		else if (!strcmp(name, "builtin_function_or_method"))
			k = TYPE_BUILTIN_METHOD;
	}
	if (c->n < TYPES) {
		c->addr[c->n] = type;
		c->kind[c->n++] = k;
	}
	return k;
}

/* obj, or the object a bound builtin method of it is bound to, if it is
 * an RLock over lock: its semaphore (3.10-3.13) or its PyMutex (3.14+).
 */
static bool rlock_over(const struct mem_source *mem, struct type_cache *c, uint64_t obj,
		       uint64_t lock, bool pymutex, struct rlock_view *out)
{
	uint64_t type = u64(mem, obj + OB_TYPE);
	enum type_kind k;

	if (!type)
		return false;
	k = kind_of(mem, c, type);
	if (k == TYPE_BUILTIN_METHOD) {
		obj = u64(mem, obj + CFUNCTION_SELF);
		type = obj ? u64(mem, obj + OB_TYPE) : 0;
		k = type ? kind_of(mem, c, type) : TYPE_OTHER;
	}
	if (k != TYPE_RLOCK || (pymutex ? obj + RLOCK_LOCK : u64(mem, obj + RLOCK_LOCK)) != lock)
		return false;
	out->obj = obj;
	out->owner_ident = u64(mem, obj + RLOCK_OWNER);
	out->count = u64(mem, obj + RLOCK_COUNT);
	/* A _PyRecursiveMutex counts the acquisitions after the first, and is
	 * held while its PyMutex is locked (bit 0).
	 */
	if (pymutex)
		out->count = u64(mem, obj + RLOCK_LOCK) & 1 ? out->count + 1 : 0;
	return true;
}

bool lock_object__supported(const struct gw_target *t)
{
	return t->build.major == 3 && t->build.minor >= 10 && t->build.minor <= 15;
}

/* The frame's first bytes, as many as can be read (a frame may sit at the
 * end of its memory).
 */
static size_t read_window(const struct mem_source *mem, uint64_t frame, uint64_t *w, size_t len)
{
	for (; len >= 64; len /= 2) {
		if (!rd(mem, frame, w, len))
			return len / sizeof(*w);
	}
	return 0;
}

int lock_object__find_rlock(const struct gw_target *t, const struct mem_source *mem, uint64_t frame,
			    uint64_t sem, struct rlock_view *out)
{
	uint64_t w[WINDOW_3_10 / sizeof(uint64_t)];
	size_t len = t->build.minor == 10 ? WINDOW_3_10 : WINDOW_3_11, n, i;
	struct type_cache c = {.n = 0};
	unsigned depth;

	if (!lock_object__supported(t) || !sem)
		return -ENOENT;
	for (depth = 0; frame && depth < FRAMES; depth++) {
		n = read_window(mem, frame, w, len);
		for (i = 0; i < n; i++) {
			/* 3.14+ value stacks hold tagged references (_PyStackRef). */
			uint64_t obj = t->build.minor >= 14 ? w[i] & ~3ull : w[i];

			/* Objects are 8-byte aligned user-space addresses. */
			if (obj >= 4096 && !(obj & 7) && obj < (1ull << 47) &&
			    rlock_over(mem, &c, obj, sem, t->build.minor >= 14, out))
				return 0;
		}
		frame = u64(mem, frame + t->build.layout.stack.frame_previous);
	}
	return -ENOENT;
}

pid_t lock_object__owner_tid(const struct gw_target *t, const struct mem_source *mem,
			     const struct rlock_view *r)
{
	struct target_thread th[256];
	int n, i;

	if (!r->owner_ident || !r->count)
		return 0;
	n = target__threads(t, th, sizeof(th) / sizeof(th[0]));
	for (i = 0; i < n; i++) {
		if (th[i].tid &&
		    u64(mem, th[i].tstate + t->build.layout.tstate_thread_id) == r->owner_ident)
			return th[i].tid;
	}
	return 0;
}

int lock_object__waited_owner(struct stack_collector *c, pid_t tid, uint64_t sem, pid_t *owner)
{
	struct mem_source mem = mem_source__process(c->t->pid);
	uint64_t tstate = stack_collector__tstate(c, tid), frame = 0;
	struct rlock_view r;

	*owner = 0;
	if (!tstate || py_reader__current_frame(&c->py, tstate, &frame) ||
	    lock_object__find_rlock(c->t, &mem, frame, sem, &r))
		return -ENOENT;
	*owner = lock_object__owner_tid(c->t, &mem, &r);
	return 0;
}
