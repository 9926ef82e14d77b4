#pragma once
// The enforcer's posture: what happens to traffic that no policy allows, which infrastructure
// traffic stays open, and how violations are reported. Part of the desired state; changing it
// is a transaction like any other.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/enforcer/Policy.h"

namespace mudguard::enforcer {

/// Infrastructure traffic that every device on the LAN may send, before any policy is
/// consulted (so pending and quarantined devices keep it too: they are held to exactly this).
struct Infrastructure {
    bool dhcp = true; ///< DHCPv4 (udp 68 -> 67) and DHCPv6 (udp 546 -> 547) to the router
    bool dns = true; ///< udp and tcp 53 to the router
    bool ndp = true; ///< ICMPv6 router/neighbour solicitation and advertisement, MLD reports; ARP in the bridge
    bool ntp = false; ///< udp 123 to the router
    /// Further allowances in the from-device direction (e.g. a resolver elsewhere on the LAN).
    /// Their verdict must be Accept; they apply in the input, forward and bridge hooks.
    std::vector<Rule> extra;
    bool operator==(const Infrastructure&) const = default;
};

enum class DenyAction { Drop, Reject };

struct Config {
    /// What happens to a managed device's traffic that its policy does not allow. Reject sends
    /// an ICMP/ICMPv6 administratively-prohibited error (the bridge table drops: see
    /// KernelFeatures::bridgeReject).
    DenyAction denyAction = DenyAction::Drop;
    /// Devices without a MUD URL are untouched unless this is set: then their traffic entering
    /// on `lanInterfaces` is held to infrastructure only, like a pending device.
    bool holdUnmanaged = false;
    std::vector<std::string> lanInterfaces;
    Infrastructure infrastructure;
    /// nflog group for denied packets (rate limited); absent: no logging.
    std::optional<std::uint16_t> logGroup = std::uint16_t { 100 };
    unsigned logRatePerSecond = 10;
    /// nflog group that receives a copy of every DNS response (udp and tcp source port 53) sent
    /// to a managed device, forwarded or from the router's own resolver, so the controller
    /// learns the addresses devices are given. Not rate limited; the verdict is unchanged.
    /// 0: off.
    std::uint16_t dnsLogGroup = 0;
    bool operator==(const Config&) const = default;
};

/// What the running kernel can do, probed once (never assumed).
struct KernelFeatures {
    /// `reject` in a bridge-family forward chain. Needs CONFIG_NFT_BRIDGE_REJECT, and the
    /// kernel allows it only in some hooks; without it the bridge table drops instead.
    bool bridgeReject = false;
    bool operator==(const KernelFeatures&) const = default;
};

/// Throws CompileError when the configuration cannot be expressed (bad interface names,
/// extra infrastructure rules that are not plain accepts, ...).
void validate(const Config& config);

} // namespace mudguard::enforcer
