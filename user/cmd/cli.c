// SPDX-License-Identifier: MIT
#include <argp.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exit_codes.h"
#include "gilwatch.h"
#include "log.h"
#include "proc.h"
#include "version.h"

int gw_verbose;
const char *argp_program_version = "gilwatch " GW_VERSION;
const char *argp_program_bug_address = "https://github.com/gilwatch/gilwatch/issues";

static const char usage_doc[] =
    "Watch a running CPython process: GIL waits, GC pauses, frame collection.\n"
    "\n"
    "COMMAND is one of:\n"
    "  watch --pid PID   attach to one process and report until it exits\n"
    "  dump --pid PID    every thread's state and Python and native stacks, now\n"
    "  agent             every CPython process of the machine, for Prometheus\n"
    "\n"
    "EXAMPLES:\n"
    "  gilwatch watch --pid 1234              # refreshed table every second\n"
    "  gilwatch watch --pid 1234 --json       # JSON Lines (docs/events.md)\n"
    "  gilwatch watch --pid 1234 --deep -d 10 # every GIL handoff, 10 seconds\n"
    "  gilwatch dump --pid 1234               # what each thread does (frozen too)\n"
    "  gilwatch agent                         # metrics on http://127.0.0.1:9947/metrics\n"
    "\n"
    "Exit codes: 0 ok, 1 error, 2 usage, 3 no such process, 4 not CPython,\n"
    "5 unsupported CPython, 6 process exited while attaching, 7 BPF unavailable.";

enum {
	OPT_DEEP = 0x100,
	OPT_DEADLOCK_AFTER,
	OPT_STALL_AFTER,
	OPT_NO_NATIVE,
	OPT_LISTEN,
	OPT_MATCH,
	OPT_EXCLUDE,
	OPT_MAX_PROCESSES,
	OPT_NO_CHILDREN
};

static const struct argp_option watch_options[] = {
    {"pid", 'p', "PID", 0, "Process to watch (required)", 0},
    {"interval", 'i', "SECONDS", 0, "Refresh interval (default 1)", 0},
    {"duration", 'd', "SECONDS", 0, "Stop after this long (default: until exit or Ctrl-C)", 0},
    {"json", 'j', NULL, 0, "JSON Lines on stdout instead of a table", 0},
    {"deep", OPT_DEEP, NULL, 0,
     "Trace every GIL acquisition and release (exact hold times; costs ~1 us per handoff)", 0},
    {"deadlock-after", OPT_DEADLOCK_AFTER, "SECONDS", 0,
     "Report a wait-for cycle that lasts this long (default 2)", 0},
    {"stall-after", OPT_STALL_AFTER, "SECONDS", 0,
     "Report a process that makes no progress for this long (default 5)", 0},
    {"verbose", 'v', NULL, 0, "Show libbpf diagnostics", 0},
    {},
};

static int parse_seconds(const char *arg, double min, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < min || v > 86400 * 365)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_count(const char *arg, unsigned max, unsigned *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > (long)max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* --duration and the detection options watch and agent share;
 * ARGP_ERR_UNKNOWN for the rest.
 */
static error_t parse_detection(int key, char *arg, struct argp_state *state,
			       struct detection_opts *o)
{
	switch (key) {
	case 'd':
		if (parse_seconds(arg, 0, &o->duration_s))
			argp_error(state, "invalid duration '%s': expected seconds >= 0", arg);
		break;
	case OPT_DEEP:
		o->deep = true;
		break;
	case OPT_STALL_AFTER:
		if (parse_seconds(arg, 0.1, &o->stall_after_s))
			argp_error(state, "invalid --stall-after '%s': expected seconds >= 0.1",
				   arg);
		break;
	case OPT_DEADLOCK_AFTER:
		if (parse_seconds(arg, 0.1, &o->deadlock_after_s))
			argp_error(state, "invalid --deadlock-after '%s': expected seconds >= 0.1",
				   arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* The options watch and dump share; ARGP_ERR_UNKNOWN for the rest. */
static error_t parse_common(int key, char *arg, struct argp_state *state, const char *command,
			    pid_t *pid, bool *json)
{
	switch (key) {
	case 'p':
		if (proc__parse_pid(arg, pid))
			argp_error(state, "invalid pid '%s': expected a positive number", arg);
		break;
	case 'j':
		*json = true;
		break;
	case 'v':
		gw_verbose++;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (!*pid)
			argp_error(state, "%s needs --pid PID", command);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static error_t parse_watch(int key, char *arg, struct argp_state *state)
{
	struct cli *cli = state->input;
	struct watch_opts *o = &cli->watch;

	switch (key) {
	case 'i':
		if (parse_seconds(arg, 0.01, &o->interval_s))
			argp_error(state, "invalid interval '%s': expected seconds >= 0.01", arg);
		break;
	default:
		if (parse_detection(key, arg, state, &o->detection) != ARGP_ERR_UNKNOWN)
			break;
		return parse_common(key, arg, state, "watch", &o->pid, &o->json);
	}
	return 0;
}

static const struct argp watch_argp = {watch_options,
				       parse_watch,
				       NULL,
				       "Attach to one CPython process and report its GIL, GC and "
				       "frame-collection activity.",
				       NULL,
				       NULL,
				       NULL};

static const struct argp_option dump_options[] = {
    {"pid", 'p', "PID", 0, "Process to dump (required)", 0},
    {"json", 'j', NULL, 0, "One JSON line (docs/events.md) instead of text", 0},
    {"no-native", OPT_NO_NATIVE, NULL, 0,
     "No native stacks: never stop a thread, not even for the moment of an unwind", 0},
    {"deadlock-after", OPT_DEADLOCK_AFTER, "SECONDS", 0,
     "A wait-for cycle is a deadlock if a second look this much later finds it unchanged "
     "(default 2)",
     0},
    {"no-children", OPT_NO_CHILDREN, NULL, 0,
     "The process alone: not its child processes (pool workers), which are dumped after it by "
     "default",
     0},
    {"verbose", 'v', NULL, 0, "Show diagnostics", 0},
    {},
};

static error_t parse_dump(int key, char *arg, struct argp_state *state)
{
	struct dump_opts *o = &((struct cli *)state->input)->dump;

	switch (key) {
	case OPT_NO_NATIVE:
		o->no_native = true;
		return 0;
	case OPT_NO_CHILDREN:
		o->no_children = true;
		return 0;
	case OPT_DEADLOCK_AFTER:
		if (parse_seconds(arg, 0.1, &o->deadlock_after_s))
			argp_error(state, "invalid --deadlock-after '%s': expected seconds >= 0.1",
				   arg);
		return 0;
	}
	return parse_common(key, arg, state, "dump", &o->pid, &o->json);
}

static const struct argp dump_argp = {
    dump_options,
    parse_dump,
    NULL,
    "Print every thread of a CPython process: what it holds or waits "
    "for, and its Python and native stacks, after the deadlock it is in, if "
    "any. Needs no BPF and works on a frozen process. A thread asleep in a "
    "system call is never stopped; a running one only for the moment of its "
    "native unwind.",
    NULL,
    NULL,
    NULL};

static const struct argp_option agent_options[] = {
    {"listen", OPT_LISTEN, "HOST:PORT", 0,
     "Serve /metrics, /healthz and /events here (default 127.0.0.1:9947)", 0},
    {"interval", 'i', "SECONDS", 0, "Terminal summary period (default 5)", 0},
    {"duration", 'd', "SECONDS", 0, "Stop after this long (default: until Ctrl-C/SIGTERM)", 0},
    {"quiet", 'q', NULL, 0, "No terminal summary", 0},
    {"match", OPT_MATCH, "REGEX", 0,
     "Watch only processes whose command line matches (POSIX extended regex)", 0},
    {"exclude", OPT_EXCLUDE, "REGEX", 0, "Never watch processes whose command line matches", 0},
    {"max-processes", OPT_MAX_PROCESSES, "N", 0,
     "Watch at most N processes at once (default and most 1024); the others are counted in "
     "gilwatch_attach_failures_total",
     0},
    {"deep", OPT_DEEP, NULL, 0, "Trace every GIL handoff and lock operation (costly)", 0},
    {"deadlock-after", OPT_DEADLOCK_AFTER, "SECONDS", 0,
     "Report a wait-for cycle that lasts this long (default 2)", 0},
    {"stall-after", OPT_STALL_AFTER, "SECONDS", 0,
     "Report a process that makes no progress for this long (default 5)", 0},
    {"verbose", 'v', NULL, 0, "Show diagnostics", 0},
    {},
};

static error_t parse_agent(int key, char *arg, struct argp_state *state)
{
	struct agent_opts *o = &((struct cli *)state->input)->agent;

	switch (key) {
	case OPT_LISTEN:
		o->listen = arg;
		break;
	case 'i':
		if (parse_seconds(arg, 0.1, &o->interval_s))
			argp_error(state, "invalid interval '%s': expected seconds >= 0.1", arg);
		break;
	case 'q':
		o->quiet = true;
		break;
	case OPT_MATCH:
	case OPT_EXCLUDE:
		if (process_filter__set(&o->filter, key == OPT_EXCLUDE, arg))
			argp_error(state, "invalid regular expression '%s'", arg);
		break;
	case OPT_MAX_PROCESSES:
		if (parse_count(arg, GW_MAX_PROCS, &o->max_processes))
			argp_error(state, "invalid --max-processes '%s': expected 1 to %d", arg,
				   GW_MAX_PROCS);
		break;
	case 'v':
		gw_verbose++;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return parse_detection(key, arg, state, &o->detection);
	}
	return 0;
}

static const struct argp agent_argp = {
    agent_options,
    parse_agent,
    NULL,
    "Watch every CPython process of the machine, those running and "
    "those started later; export them for Prometheus.",
    NULL,
    NULL,
    NULL};

static const struct argp_option top_options[] = {{}};

static error_t parse_top(int key, char *arg, struct argp_state *state)
{
	if (key == ARGP_KEY_ARG) {
		argp_error(state, "unknown command '%s'", arg);
		return 0;
	}
	if (key == ARGP_KEY_NO_ARGS)
		argp_error(state, "missing COMMAND");
	return ARGP_ERR_UNKNOWN;
}

static const struct argp top_argp = {top_options, parse_top, "COMMAND [OPTION...]", usage_doc, NULL,
				     NULL,	  NULL};

int cli__parse(int argc, char **argv, struct cli *cli)
{
	int err;

	memset(cli, 0, sizeof(*cli));
	cli->watch.interval_s = 1.0;
	cli->watch.detection =
	    (struct detection_opts){.deadlock_after_s = 2.0, .stall_after_s = 5.0};
	argp_err_exit_status = GW_EXIT_USAGE;
	cli->agent = (struct agent_opts){.listen = "127.0.0.1:9947",
					 .interval_s = 5.0,
					 .max_processes = GW_MAX_PROCS,
					 .detection = cli->watch.detection};
	cli->dump.deadlock_after_s = cli->watch.detection.deadlock_after_s;
	if (argc >= 2 &&
	    (!strcmp(argv[1], "watch") || !strcmp(argv[1], "dump") || !strcmp(argv[1], "agent"))) {
		static const struct {
			const char *name, *prog;
			enum cli_command command;
			const struct argp *argp;
		} commands[] = {{"watch", "gilwatch watch", CLI_WATCH, &watch_argp},
				{"dump", "gilwatch dump", CLI_DUMP, &dump_argp},
				{"agent", "gilwatch agent", CLI_AGENT, &agent_argp}};
		char *saved = argv[1];
		size_t i;

		for (i = 0; strcmp(argv[1], commands[i].name); i++)
			;
		/* argp names the program after argv[0]: say "gilwatch watch". */
		argv[1] = (char *)commands[i].prog;
		cli->command = commands[i].command;
		err = argp_parse(commands[i].argp, argc - 1, argv + 1, 0, NULL, cli);
		argv[1] = saved;
	} else {
		err = argp_parse(&top_argp, argc, argv, 0, NULL, cli);
	}
	return err ? GW_EXIT_USAGE : 0;
}
