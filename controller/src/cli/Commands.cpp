#include "cli/Commands.h"

#include "cli/ApiCommands.h"

namespace mudguard::controller::cli {

void registerCommands(CLI::App& app, CommandContext& ctx)
{
    registerDevicesCommand(app, ctx);
    registerDeviceCommand(app, ctx);
    registerPoliciesCommand(app, ctx);
    registerEventsCommand(app, ctx);
    registerTokenCommand(app, ctx);
}

} // namespace mudguard::controller::cli
