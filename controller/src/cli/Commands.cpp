#include "cli/Commands.h"

namespace mudguard::controller::cli {

void registerCommands(CLI::App& app, CommandContext& ctx)
{
    (void)app;
    (void)ctx;
}

} // namespace mudguard::controller::cli
