/* SPDX-License-Identifier: MIT */
/* Why a BPF object did not load, in words a user can act on: missing
 * privileges, a kernel without BTF, a kernel without a feature a program
 * needs, or a verifier rejection (with the verifier's own reason). libbpf's
 * messages are routed here. Its warnings during a load are summed up in the
 * diagnosis's one line (the verifier's reason, the lookup that failed);
 * every other failing libbpf call is reported by gilwatch's own line for
 * it (an attach, a map update). -v shows all of libbpf's output verbatim.
 */
#ifndef GW_BPF_LOAD_DIAG_H
#define GW_BPF_LOAD_DIAG_H

#include <stdbool.h>
#include <stddef.h>

struct bpf_object;
struct bpf_program;

enum bpf_load_failure {
	BPF_LOAD_PRIVILEGES,
	BPF_LOAD_NO_BTF,
	BPF_LOAD_KERNEL_FEATURE,
	BPF_LOAD_REJECTED,
	BPF_LOAD_OTHER,
};

struct bpf_load_diag {
	enum bpf_load_failure kind;
	char prog[64]; /* the program that failed, "" if none was named */
	char message[512];
};

/* Routes libbpf's output (once per process). */
void bpf_load_diag__install(void);
/* Gives every program of obj a verifier log buffer (only a rejected one's
 * is written: libbpf asks for a log when a load fails) and starts
 * collecting libbpf's warnings. 0 or -ENOMEM.
 */
int bpf_load_diag__begin(struct bpf_object *obj);
/* Explains a failed load (err: its -errno) into d. */
void bpf_load_diag__explain(struct bpf_object *obj, int err, struct bpf_load_diag *d);
/* Frees the buffers and stops collecting. */
void bpf_load_diag__end(void);
/* The kernel's release, e.g. "6.18.44". */
const char *bpf_load_diag__kernel(void);
/* 0 when the kernel describes itself with BTF, else -ENOENT with d set. */
int bpf_load_diag__check_btf(struct bpf_load_diag *d);

#endif
