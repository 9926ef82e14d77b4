#include "cli/Commands.h"

#include "cli/ApiCommands.h"
#include "cli/FetchCommand.h"
#include "cli/HookCommand.h"
#include "cli/RunCommand.h"
#include "cli/ShowCommand.h"
#include "cli/SignCommand.h"
#include "cli/ValidateCommand.h"
#include "cli/VerifyCommand.h"

namespace mudguard::controller::cli {

void registerCompileCommand(CLI::App& app, CommandContext& ctx);

void registerCommands(CLI::App& app, CommandContext& ctx)
{
    registerDevicesCommand(app, ctx);
    registerDeviceCommand(app, ctx);
    registerPoliciesCommand(app, ctx);
    registerEventsCommand(app, ctx);
    registerTokenCommand(app, ctx);
    registerValidateCommand(app, ctx);
    registerShowCommand(app, ctx);
    registerFetchCommand(app, ctx);
    registerVerifyCommand(app, ctx);
    registerSignCommand(app, ctx);
    registerHookCommand(app, ctx);
    registerCompileCommand(app, ctx);
    registerRunCommand(app, ctx);
}

} // namespace mudguard::controller::cli
