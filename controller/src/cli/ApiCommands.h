#pragma once
// The API client commands (each in its own file) and `mudguard token`.

#include <CLI/CLI.hpp>

#include "cli/Commands.h"

namespace mudguard::controller::cli {

void registerDevicesCommand(CLI::App& app, CommandContext& ctx); ///< mudguard devices
void registerDeviceCommand(CLI::App& app, CommandContext& ctx); ///< mudguard device MAC
void registerPoliciesCommand(CLI::App& app, CommandContext& ctx); ///< mudguard policies
void registerEventsCommand(CLI::App& app, CommandContext& ctx); ///< mudguard events
void registerTokenCommand(CLI::App& app, CommandContext& ctx); ///< mudguard token

} // namespace mudguard::controller::cli
