/* rustfx - the command-line entry point; everything lives in cli.c. */
#include "tools/cli.h"

int main(int argc, char **argv)
{
	return fx_cli_main(argc, argv);
}
