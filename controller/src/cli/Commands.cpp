#include "cli/Commands.h"

#include "cli/HookCommand.h"

namespace mudguard::controller::cli {

void registerCommands(CLI::App& app, CommandContext& ctx) { registerHookCommand(app, ctx); }

} // namespace mudguard::controller::cli
