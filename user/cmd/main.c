// SPDX-License-Identifier: MIT
#include "cli.h"
#include "exit_codes.h"

int main(int argc, char **argv)
{
	struct cli cli;
	int code = cli__parse(argc, argv, &cli);

	if (code)
		return code;
	switch (cli.command) {
	case CLI_WATCH:
		return watch__run(&cli.watch);
	case CLI_DUMP:
		return dump__run(&cli.dump);
	case CLI_AGENT:
		code = agent__run(&cli.agent);
		process_filter__free(&cli.agent.filter);
		return code;
	}
	return GW_EXIT_ERROR;
}
