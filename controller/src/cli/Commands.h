#pragma once
// Subcommand registry. Each command lives in its own file and registers itself here; the
// callback stores the process exit code in `exitCode`.

#include <CLI/CLI.hpp>

namespace mudguard::controller::cli {

/// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1; ///< the input was examined and found bad
inline constexpr int kExitUsage = 2; ///< usage, I/O or environment error

struct CommandContext {
    int exitCode = kExitOk;
};

void registerCommands(CLI::App& app, CommandContext& ctx);

} // namespace mudguard::controller::cli
