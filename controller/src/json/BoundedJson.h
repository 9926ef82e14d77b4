#pragma once
// Untrusted JSON through RapidJSON 1.1.0 (see the notes on RapidJSON in docs/api.md): a size cap
// before parsing, an iterative parser (deep input cannot overflow the stack), UTF-8 validation, a
// nesting limit (so that later recursive walks are safe too) and refusal of duplicate member
// names (RapidJSON would keep both and find the first; other parsers keep the last).

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace mudguard::controller::json {

struct Limits {
    std::size_t maxBytes = 1 << 20;
    unsigned maxDepth = 32; ///< objects and arrays nested deeper are refused
};

/// Parses `text` into `doc`. Returns an empty string on success, otherwise one sentence saying
/// what is wrong and where ("duplicate member \"mac\" at offset 31").
std::string parse(std::string_view text, rapidjson::Document& doc, const Limits& limits = {});

/// The length of the valid UTF-8 sequence that starts at `s[i]`, or 0 (RFC 3629: no overlong
/// forms, surrogates or code points above U+10FFFF, no truncated sequence).
std::size_t utf8SequenceLength(std::string_view s, std::size_t i);

/// The member `name` of an object, or nullptr (also when `v` is not an object).
const rapidjson::Value* member(const rapidjson::Value& v, std::string_view name);

/// A string value as a std::string (embedded NULs kept).
inline std::string str(const rapidjson::Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

} // namespace mudguard::controller::json
