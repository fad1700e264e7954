// SPDX-License-Identifier: MIT
/* Command-line parsing. argp exits on bad input, so those cases run in a
 * forked child whose exit status and stderr are checked.
 *
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli.h"
#include "version.h"
#include "exit_codes.h"
#include "log.h"

#define MAX_ARGS 16
/* Exit status of a child whose cli__parse() returned instead of exiting. */
#define RETURNED 100

/* Splits a space-separated command line into a fresh argv. */
static int make_argv(const char *line, char **argv, char *storage, size_t len)
{
	int argc = 0;
	char *tok, *save;

	snprintf(storage, len, "%s", line);
	for (tok = strtok_r(storage, " ", &save); tok && argc < MAX_ARGS - 1;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return argc;
}

/* Values parsed from decimal text compare exactly with the same literal. */
static void assert_seconds(double got, double want)
{
	if (got != want)
		fail_msg("%.17g != %.17g", got, want);
}

static int parse(const char *line, struct cli *cli)
{
	char *argv[MAX_ARGS], storage[256];
	int argc = make_argv(line, argv, storage, sizeof(storage));

	return cli__parse(argc, argv, cli);
}

struct child_result {
	int status; /* exit status, -1 if killed */
	char out[4096], err[4096];
};

static struct child_result child_res;

static void read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += r;
	buf[n] = '\0';
}

/* Runs cli__parse() on line in a child, capturing its stdout and stderr. */
static void parse_in_child(const char *line, struct child_result *res)
{
	int out[2], err[2], status;
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct cli cli;

		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(err[0]);
		_exit(RETURNED + parse(line, &cli));
	}
	close(out[1]);
	close(err[1]);
	/* Outputs are small: well under a pipe buffer each. */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	read_all(out[0], res->out, sizeof(res->out));
	read_all(err[0], res->err, sizeof(res->err));
	close(out[0]);
	close(err[0]);
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_watch_all_options(void **state)
{
	struct cli cli;

	assert_int_equal(
	    parse("gilwatch watch --pid 42 --interval 0.5 --duration 3 --json --deep", &cli), 0);
	assert_int_equal(cli.command, CLI_WATCH);
	assert_int_equal(cli.watch.pid, 42);
	assert_seconds(cli.watch.interval_s, 0.5);
	assert_seconds(cli.watch.detection.duration_s, 3.0);
	assert_true(cli.watch.json);
	assert_true(cli.watch.detection.deep);
}

static void test_watch_defaults(void **state)
{
	struct cli cli;

	memset(&cli, 0xa5, sizeof(cli));
	assert_int_equal(parse("gilwatch watch --pid 7", &cli), 0);
	assert_int_equal(cli.command, CLI_WATCH);
	assert_int_equal(cli.watch.pid, 7);
	assert_seconds(cli.watch.interval_s, 1.0);
	assert_seconds(cli.watch.detection.duration_s, 0.0);
	assert_false(cli.watch.json);
	assert_false(cli.watch.detection.deep);
}

static void test_watch_short_and_joined(void **state)
{
	struct cli cli;

	gw_verbose = 0;
	assert_int_equal(parse("gilwatch watch -j -p 99 -i 0.01 -d 0 -v", &cli), 0);
	assert_int_equal(cli.watch.pid, 99);
	assert_seconds(cli.watch.interval_s, 0.01);
	assert_seconds(cli.watch.detection.duration_s, 0.0);
	assert_true(cli.watch.json);
	assert_false(cli.watch.detection.deep);
	assert_int_equal(gw_verbose, 1);
	gw_verbose = 0;

	assert_int_equal(
	    parse("gilwatch watch --pid=12345 --interval=2.5e0 --duration=86400", &cli), 0);
	assert_int_equal(cli.watch.pid, 12345);
	assert_seconds(cli.watch.interval_s, 2.5);
	assert_seconds(cli.watch.detection.duration_s, 86400.0);
	/* Options before and after each other, last one wins. */
	assert_int_equal(parse("gilwatch watch -i 3 --pid 5 -i 4", &cli), 0);
	assert_seconds(cli.watch.interval_s, 4.0);
}

static void test_usage_errors(void **state)
{
	static const struct {
		const char *line, *says;
	} cases[] = {
	    {"gilwatch watch", "--pid"},
	    {"gilwatch watch --json", "--pid"},
	    {"gilwatch watch --pid abc", "abc"},
	    {"gilwatch watch --pid -3", "-3"},
	    {"gilwatch watch --pid 0", "'0'"},
	    {"gilwatch watch --pid 12x", "12x"},
	    {"gilwatch watch --pid", "pid"},
	    {"gilwatch watch --pid 1 --interval 0", "interval"},
	    {"gilwatch watch --pid 1 --interval nan", "nan"},
	    {"gilwatch watch --pid 1 --interval inf", "inf"},
	    {"gilwatch watch --pid 1 --interval 0.001", "0.001"},
	    {"gilwatch watch --pid 1 --interval 1s", "1s"},
	    {"gilwatch watch --pid 1 --duration -1", "-1"},
	    {"gilwatch watch --pid 1 --duration 1e12", "1e12"},
	    {"gilwatch frobnicate", "frobnicate"},
	    {"gilwatch", "COMMAND"},
	    {"gilwatch watch --pid 1 extra", "extra"},
	    {"gilwatch watch --pid 1 --bogus", "bogus"},
	    {"gilwatch --pid 1 watch", "pid"},
	};
	struct child_result *res = &child_res;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_in_child(cases[i].line, res);
		if (res->status != GW_EXIT_USAGE)
			fail_msg("'%s': exit status %d, want %d", cases[i].line, res->status,
				 GW_EXIT_USAGE);
		if (!res->err[0])
			fail_msg("'%s': nothing on stderr", cases[i].line);
		if (!strstr(res->err, cases[i].says))
			fail_msg("'%s': stderr lacks '%s': %s", cases[i].line, cases[i].says,
				 res->err);
		if (res->out[0])
			fail_msg("'%s': wrote to stdout: %s", cases[i].line, res->out);
	}
}

static void test_help_exits_zero(void **state)
{
	struct child_result *res = &child_res;

	parse_in_child("gilwatch --help", res);
	assert_int_equal(res->status, 0);
	assert_non_null(strstr(res->out, "watch --pid PID"));
	parse_in_child("gilwatch watch --help", res);
	assert_int_equal(res->status, 0);
	assert_non_null(strstr(res->out, "--interval"));
	parse_in_child("gilwatch --version", res);
	assert_int_equal(res->status, 0);
	assert_non_null(strstr(res->out, "gilwatch " GW_VERSION));
	parse_in_child("gilwatch agent --help", res);
	assert_int_equal(res->status, 0);
	assert_non_null(strstr(res->out, "--listen"));
}

/* Errors in `gilwatch watch ...` are attributed to a program called
 * "watch" (argv + 1 is handed to argp): "watch: invalid pid 'abc'..." and
 * "Try `watch --help'", which names procps watch(1), not gilwatch.
 */
static void test_watch_errors_named_watch(void **state)
{
	struct child_result *res = &child_res;

	parse_in_child("gilwatch watch --pid abc", res);
	assert_int_equal(res->status, GW_EXIT_USAGE);
	assert_true(!strncmp(res->err, "gilwatch", strlen("gilwatch")));
	assert_null(strstr(res->err, "`watch --help'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_watch_all_options),
	    cmocka_unit_test(test_watch_defaults),
	    cmocka_unit_test(test_watch_short_and_joined),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_help_exits_zero),
	    cmocka_unit_test(test_watch_errors_named_watch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
