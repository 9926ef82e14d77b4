#pragma once

#include <ostream>
#include <string>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Profile.h"

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// `mudguard show [--lenient] FILE`
void registerShowCommand(CLI::App& app, CommandContext& ctx);

/// The readable summary of a profile that `show` prints, followed by the report's warnings
/// (also used by `fetch`).
/// "accept", "drop" or "reject".
const char* actionName(mudparser::Action a);

/// One ACE in words, seen from the device ("accept tcp, to www.example.com, port 443, ...").
std::string describeAce(const mudparser::Ace& ace, bool fromDevice);

void printProfile(const mudparser::Profile& p, const mudparser::Report& report, std::ostream& out);

} // namespace mudguard::controller::cli
