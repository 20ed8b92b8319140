/* mount.rustfx - the mount(8)/fstab helper; everything lives in cli.c. */
#include "tools/cli.h"

int main(int argc, char **argv)
{
	return fx_cli_mount_helper(argc, argv);
}
