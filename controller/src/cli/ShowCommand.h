#pragma once

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard show [--lenient] FILE`
void registerShowCommand(CLI::App& app, CommandContext& ctx);

} // namespace mudguard::controller::cli
