#pragma once
// Hex text as dnsmasq and lldpcli print it ("00:01:0a", "00010A", "68,74,74,70").

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace mudguard::controller::discovery {

/// The value of one hex digit, or -1.
inline int hexDigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// Bytes of two hex digits each, optionally separated by one of `separators`. A byte of one
/// digit is accepted only between separators (or the ends), as in "1:2". Nothing else is
/// accepted: no trailing separator, no other character, at most `maxBytes` bytes.
inline std::optional<std::vector<std::uint8_t>> decodeHex(
    std::string_view text, std::string_view separators, std::size_t maxBytes)
{
    std::vector<std::uint8_t> out;
    auto isSeparator = [&](std::size_t i) { return separators.find(text[i]) != std::string_view::npos; };
    std::size_t i = 0;
    while (i < text.size()) {
        if (out.size() == maxBytes)
            return std::nullopt;
        bool afterSeparator = i > 0 && isSeparator(i - 1);
        int hi = hexDigit(text[i]);
        if (hi < 0)
            return std::nullopt;
        int lo = i + 1 < text.size() ? hexDigit(text[i + 1]) : -1;
        if (lo >= 0) {
            out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
            i += 2;
        } else {
            if (i > 0 && !afterSeparator)
                return std::nullopt; // an odd digit glued to the previous byte
            out.push_back(static_cast<std::uint8_t>(hi));
            i += 1;
        }
        if (i < text.size()) {
            bool sep = isSeparator(i);
            if (sep && i + 1 == text.size())
                return std::nullopt; // trailing separator
            if (sep)
                ++i;
            else if (lo < 0)
                return std::nullopt; // one digit not followed by a separator
        }
    }
    return out;
}

} // namespace mudguard::controller::discovery
