#pragma once

#include <ostream>
#include <string>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Profile.h"

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard show [--lenient] FILE`
void registerShowCommand(CLI::App& app, CommandContext& ctx);

/// The readable summary of a profile that `show` prints (text/ProfileText.h), followed by the
/// report's warnings (also used by `fetch`).
void printProfile(const mudparser::Profile& p, const mudparser::Report& report, std::ostream& out);

} // namespace mudguard::controller::cli
