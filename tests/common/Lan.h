#pragma once
// A small LAN for tests: a gateway namespace with a bridge (192.0.2.1/24,
// 2001:db8:1::1/64) and devices attached to it by veth pairs, each in its own namespace.

#include <memory>
#include <string>
#include <vector>

#include "Netns.h"

namespace mudguard::test {

struct LanDevice {
    std::unique_ptr<Netns> ns;
    std::string ifname; ///< inside the device namespace (unique per test process)
    std::string port; ///< gateway-side bridge port
    std::string mac;
};

class Lan {
public:
    static constexpr const char* kBridge = "br0";
    static constexpr const char* kGatewayV4 = "192.0.2.1";
    static constexpr const char* kGatewayV6 = "2001:db8:1::1";

    Lan();
    Netns& gateway() { return *m_gateway; }
    /// Adds a device; `mac` like "02:00:5e:00:00:11". TX checksum offload is turned off on the
    /// gateway side so that raw-socket DHCP clients accept the gateway's replies.
    LanDevice& addDevice(const std::string& mac);

private:
    std::unique_ptr<Netns> m_gateway;
    std::vector<std::unique_ptr<LanDevice>> m_devices;
};

} // namespace mudguard::test
