// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "report_stack.h"

static void json_error(struct json_writer *w, const char *key, int err)
{
	if (err)
		jw_str(w, key, strerror(-err));
}

void report_stack__json(struct json_writer *w, const struct thread_stacks *s)
{
	char addr[24];
	unsigned i;

	jw_array_begin(w, "python_stack");
	for (i = 0; i < s->py.n; i++) {
		const struct py_frame *f = &s->py.f[i];

		jw_object_begin(w, NULL);
		jw_str(w, "function", f->function);
		jw_str(w, "file", f->file);
		if (f->line >= 0)
			jw_u64(w, "line", f->line);
		jw_object_end(w);
	}
	jw_array_end(w);
	if (s->py.truncated)
		jw_bool(w, "python_stack_truncated", true);
	if (s->py_err != -ENOENT)
		json_error(w, "python_stack_error", s->py_err);
	jw_array_begin(w, "native_stack");
	for (i = 0; i < s->native.n; i++) {
		const struct native_frame *f = &s->native.f[i];

		jw_object_begin(w, NULL);
		snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)f->ip);
		jw_str(w, "addr", addr);
		if (f->symbol[0]) {
			jw_str(w, "function", f->symbol);
			jw_u64(w, "offset", f->offset);
		}
		if (f->module[0])
			jw_str(w, "module", f->module);
		jw_object_end(w);
	}
	jw_array_end(w);
	if (s->native.truncated)
		jw_bool(w, "native_stack_truncated", true);
	json_error(w, "native_stack_error", s->native_err);
}

void report_stack__text(FILE *out, const struct thread_stacks *s, const char *indent)
{
	unsigned i;

	if (s->py.n) {
		fprintf(out, "%sPython stack (most recent call first):\n", indent);
		for (i = 0; i < s->py.n; i++) {
			const struct py_frame *f = &s->py.f[i];

			if (f->line >= 0)
				fprintf(out, "%s  %s (%s:%d)\n", indent, f->function, f->file,
					f->line);
			else
				fprintf(out, "%s  %s (%s)\n", indent, f->function, f->file);
		}
		if (s->py.truncated)
			fprintf(out, "%s  ... (truncated)\n", indent);
	} else if (s->py_err && s->py_err != -ENOENT) {
		fprintf(out, "%sPython stack unavailable: %s\n", indent, strerror(-s->py_err));
	}
	if (s->native.n) {
		fprintf(out, "%sNative stack:\n", indent);
		for (i = 0; i < s->native.n; i++) {
			const struct native_frame *f = &s->native.f[i];

			fprintf(out, "%s  #%-2u 0x%016llx %s", indent, i, (unsigned long long)f->ip,
				f->symbol[0] ? f->symbol : "??");
			if (f->symbol[0])
				fprintf(out, "+0x%llx", (unsigned long long)f->offset);
			fprintf(out, " (%s)\n", f->module[0] ? f->module : "?");
		}
		if (s->native.truncated)
			fprintf(out, "%s  ... (truncated)\n", indent);
	} else if (s->native_err) {
		fprintf(out, "%sNative stack unavailable: %s\n", indent, strerror(-s->native_err));
	}
}
