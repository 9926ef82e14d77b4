#pragma once
// The runtime context `mudguard compile --context FILE` compiles against: the posture and the
// addresses behind the MUD classes, DNS names and devices. The daemon builds the same from its
// configuration and its live state.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/enforcer/Config.h"
#include "mudguard/enforcer/Ir.h"
#include "mudguard/enforcer/Policy.h"

namespace mudguard::controller {

struct CompileContext {
    enforcer::Config posture;
    std::vector<enforcer::Prefix> localNetworks;
    /// The router's own addresses: the default for the urn:ietf:params:mud:dns and
    /// urn:ietf:params:mud:ntp controller classes.
    std::vector<enforcer::IpAddress> router;
    std::map<std::string, std::vector<enforcer::Prefix>> controllers, myControllers, dns;
    /// Devices of a manufacturer (authority) or model (MUD URL): addresses and MACs.
    struct Devices {
        std::vector<enforcer::Prefix> addresses;
        std::vector<enforcer::MacAddress> macs;
    };
    std::map<std::string, Devices> manufacturers, models;
};

/// The defaults without a context file: RFC 1918, ULA and link-local prefixes as the local
/// networks, everything else empty.
CompileContext defaultCompileContext();

/// Parses a context file (JSON, documented in docs/nftables-layout.md). Throws
/// enforcer::Error with the JSON path of the first problem.
CompileContext parseCompileContext(std::string_view json);

/// The elements of the class sets `policy` refers to, for one table.
enforcer::ir::ElementMap contextElements(
    const CompileContext& context, const enforcer::Policy& policy, enforcer::ir::TableFamily table);

} // namespace mudguard::controller
