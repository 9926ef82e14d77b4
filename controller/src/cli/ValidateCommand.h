#pragma once

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard validate [--lenient] [--format text|json] FILE...`
void registerValidateCommand(CLI::App& app, CommandContext& ctx);

} // namespace mudguard::controller::cli
