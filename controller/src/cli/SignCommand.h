#pragma once

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard sign --key KEY --cert CERT [--chain PEM] [-o SIG] FILE`
void registerSignCommand(CLI::App& app, CommandContext& ctx);

} // namespace mudguard::controller::cli
