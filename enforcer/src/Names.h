#pragma once
// The symbolic names nftables 1.0.6 prints for protocol values (checked against `nft list`
// output; protocol names come from Debian's /etc/protocols, as nft reads them from there).

#include <cstdint>
#include <optional>
#include <string_view>

namespace mudguard::enforcer::nftnames {

std::optional<std::string_view> dscp(std::uint32_t v);
std::optional<std::string_view> icmpType(std::uint32_t v);
std::optional<std::string_view> icmpCode(std::uint32_t v);
std::optional<std::string_view> icmpv6Type(std::uint32_t v);
std::optional<std::string_view> icmpv6Code(std::uint32_t v);
std::optional<std::string_view> etherType(std::uint32_t v);
std::optional<std::string_view> protocol(std::uint32_t v);
/// TCP flag names in bit order (fin = bit 0 ... cwr = bit 7).
std::string_view tcpFlag(unsigned bit);

} // namespace mudguard::enforcer::nftnames
