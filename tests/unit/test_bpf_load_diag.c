// SPDX-License-Identifier: MIT
/* Load failures explained: real rejections by the running kernel of
 * programs built to fail (rejected.bpf.c), and a load without privileges.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpf/libbpf.h>

#include "bpf_load_diag.h"

#ifndef GW_TEST_BPF_OBJ
#error "GW_TEST_BPF_OBJ: the path of rejected.bpf.o"
#endif

/* Loads only the program named, the way gilwatch's loader does. */
static int load_one(const char *name, struct bpf_load_diag *d)
{
	struct bpf_object *obj = bpf_object__open_file(GW_TEST_BPF_OBJ, NULL);
	struct bpf_program *prog;
	int err;

	assert_non_null(obj);
	bpf_object__for_each_program(prog, obj)
	    bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog), name));
	assert_int_equal(bpf_load_diag__begin(obj), 0);
	err = bpf_object__load(obj) ? -errno : 0;
	if (err)
		bpf_load_diag__explain(obj, err, d);
	bpf_load_diag__end();
	bpf_object__close(obj);
	return err;
}

static void test_verifier_rejection(void **state)
{
	struct bpf_load_diag d;
	char want[128];

	assert_int_not_equal(load_one("too_deep", &d), 0);
	assert_int_equal(d.kind, BPF_LOAD_REJECTED);
	assert_string_equal(d.prog, "too_deep");
	snprintf(want, sizeof(want),
		 "kernel %s rejected BPF program too_deep: ", bpf_load_diag__kernel());
	assert_memory_equal(d.message, want, strlen(want));
	/* The verifier's own words: "combined stack size of 2 calls is 640. Too large". */
	assert_non_null(strstr(d.message, "combined stack size"));
	assert_non_null(strstr(d.message, "(gilwatch -v shows the verifier log)"));
}

static void test_missing_kernel_feature(void **state)
{
	struct bpf_load_diag d;

	assert_int_not_equal(load_one("no_such_tracepoint", &d), 0);
	assert_int_equal(d.kind, BPF_LOAD_KERNEL_FEATURE);
	assert_string_equal(d.prog, "no_such_tracepoint");
	assert_non_null(strstr(d.message, "lacks what BPF program no_such_tracepoint needs"));
	assert_non_null(strstr(d.message, "gilwatch_no_such_tracepoint"));
}

/* As nobody, without capabilities: the privileges, not the verifier. */
static void test_no_privileges(void **state)
{
	struct bpf_load_diag d;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		_exit(load_one("too_deep", &d) && d.kind == BPF_LOAD_PRIVILEGES &&
			      strstr(d.message, "needs root")
			  ? 0
			  : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verifier_rejection),
	    cmocka_unit_test(test_missing_kernel_feature),
	    cmocka_unit_test(test_no_privileges),
	};

	bpf_load_diag__install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
