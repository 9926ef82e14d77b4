#pragma once

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard run [--config FILE]` and `mudguard check-config FILE`.
void registerRunCommand(CLI::App& app, CommandContext& ctx);

} // namespace mudguard::controller::cli
