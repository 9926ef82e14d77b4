#pragma once
// Parsing untrusted JSON with RapidJSON 1.1.0: size cap, iterative parsing (no recursion on deep
// input), UTF-8 validation, a nesting limit and refusal of duplicate object keys.

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace mudguard::controller::discovery {

struct JsonLimits {
    std::size_t maxBytes = 1 << 20;
    unsigned maxDepth = 32;
};

/// Parses `text` into `doc`. Returns an empty string on success, otherwise the reason.
std::string parseBoundedJson(std::string_view text, rapidjson::Document& doc, JsonLimits limits = {});

} // namespace mudguard::controller::discovery
