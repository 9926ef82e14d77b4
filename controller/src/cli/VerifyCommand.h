#pragma once

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard verify --signature SIG [--trust-anchor PEM]... [--at TIME] FILE`
void registerVerifyCommand(CLI::App& app, CommandContext& ctx);

} // namespace mudguard::controller::cli
