/* SPDX-License-Identifier: MIT */
/* Command line: `gilwatch COMMAND [OPTION...]`. */
#ifndef GW_CLI_H
#define GW_CLI_H

#include "agent.h"
#include "dump.h"
#include "watch.h"

enum cli_command {
	CLI_WATCH,
	CLI_DUMP,
	CLI_AGENT,
};

struct cli {
	enum cli_command command;
	struct watch_opts watch;
	struct dump_opts dump;
	struct agent_opts agent;
};

/* Parses argv into cli and returns 0. On a usage error argp prints it and
 * exits with GW_EXIT_USAGE; --help and --version exit 0.
 */
int cli__parse(int argc, char **argv, struct cli *cli);

#endif
