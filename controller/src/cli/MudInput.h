#pragma once
// Reading MUD documents named on the command line ("-" is standard input), and running the
// parser over them, for the commands that examine MUD files.

#include <optional>
#include <string>

#include "mudguard/mudparser/Parser.h"

namespace mudguard::controller::cli {

struct MudInput {
    std::string name; ///< as given ("-" for standard input)
    std::string content; ///< at most maxBytes + 1 bytes
    std::optional<std::string> ioError;
};

/// Reads `name`, stopping one byte past `maxBytes` (the parser then refuses it by size).
MudInput readMudInput(const std::string& name, std::size_t maxBytes);

/// Parses one input. A document cut at the size limit is reported as limit-size without
/// being parsed.
mudparser::ParseResult parseMudInput(const mudparser::Parser& parser, const MudInput& input, mudparser::Mode mode);

} // namespace mudguard::controller::cli
