#pragma once

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard fetch [--trust-anchor PEM]... [--ca-file PEM] [--signature require|prefer|off]
/// [--allow-private] [--state-dir DIR] URL`
void registerFetchCommand(CLI::App& app, CommandContext& ctx);

} // namespace mudguard::controller::cli
