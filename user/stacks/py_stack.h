/* SPDX-License-Identifier: MIT */
/* Python stacks read from another process's memory: the frame chain of a
 * thread, its code objects (cached) and their line tables. The memory may be
 * the live process (process_vm_readv) or a copy taken at an event; either
 * way it is untrusted and may change under the reader, so every length,
 * depth and loop is bounded and a broken chain yields a truncated stack.
 */
#ifndef GW_PY_STACK_H
#define GW_PY_STACK_H

#include <stdint.h>
#include <sys/types.h>
#include "python_build.h"

#define PY_STACK_DEPTH 64
#define PY_FUNCTION_LEN 128
#define PY_FILE_LEN 256

/* Where the reader's bytes come from; read() returns 0 or -errno and never
 * a short read.
 */
struct mem_source {
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	void *ctx;
};

struct py_frame {
	uint64_t code;
	int line;			/* -1: unknown */
	char function[PY_FUNCTION_LEN]; /* qualified name on 3.11+ */
	char file[PY_FILE_LEN];
};

struct py_stack {
	unsigned n;	    /* innermost first */
	unsigned truncated; /* deeper than PY_STACK_DEPTH, or the chain broke */
	struct py_frame f[PY_STACK_DEPTH];
};

struct py_code_cache;

struct py_reader {
	const struct python_stack_layout *l;
	unsigned minor;
	uint64_t code_type; /* runtime address of PyCode_Type; 0: not checked */
	struct mem_source mem;
	struct py_code_cache *cache;
};

/* l must outlive the reader. -ENOMEM. */
int py_reader__init(struct py_reader *r, const struct python_layout *l, uint64_t code_type,
		    struct mem_source mem);
void py_reader__destroy(struct py_reader *r);
/* The frame a thread state executes now (0: none, e.g. a thread that runs
 * no Python code).
 */
int py_reader__current_frame(struct py_reader *r, uint64_t tstate, uint64_t *frame);
/* Walks the chain from `frame` outwards. Fails only if not even the first
 * frame can be read; later damage sets out->truncated.
 */
int py_reader__stack(struct py_reader *r, uint64_t frame, struct py_stack *out);
/* One frame from its code object and instruction, as captured at an event:
 * `instr` is f_lasti (3.10) or the instruction pointer (3.11+).
 */
int py_reader__frame(struct py_reader *r, uint64_t code, uint64_t instr, struct py_frame *out);
/* A str object as UTF-8 (truncated to len - 1 bytes). */
int py_reader__string(struct py_reader *r, uint64_t obj, char *buf, size_t len);

/* A mem_source over process_vm_readv of a live process. */
struct mem_source mem_source__process(pid_t pid);

#endif
