#include "cli/Commands.h"

namespace mudguard::controller::cli {

void registerCompileCommand(CLI::App& app, CommandContext& ctx);

void registerCommands(CLI::App& app, CommandContext& ctx) { registerCompileCommand(app, ctx); }

} // namespace mudguard::controller::cli
