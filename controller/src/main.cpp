// mudguard: MUD (RFC 8520) policy controller. The program is a thin shell around the
// controller library; see controller/src/Cli.cpp for the commands.
#include "mudguard/controller/Cli.h"

int main(int argc, char** argv)
{
    return mudguard::controller::cliMain(argc, argv);
}
