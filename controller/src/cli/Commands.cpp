#include "cli/Commands.h"

#include "cli/ShowCommand.h"
#include "cli/ValidateCommand.h"

namespace mudguard::controller::cli {

void registerCompileCommand(CLI::App& app, CommandContext& ctx);

void registerCommands(CLI::App& app, CommandContext& ctx)
{
    registerValidateCommand(app, ctx);
    registerShowCommand(app, ctx);
    registerCompileCommand(app, ctx);
}

} // namespace mudguard::controller::cli
