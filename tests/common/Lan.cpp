#include "Lan.h"

#include <unistd.h>

namespace mudguard::test {

Lan::Lan()
    : m_gateway(std::make_unique<Netns>("gw"))
{
    m_gateway->addBridge(kBridge);
    m_gateway->addAddress(kBridge, std::string(kGatewayV4) + "/24");
    // nodad: the address is usable at once (no duplicate detection wait).
    m_gateway->ip({ "addr", "add", std::string(kGatewayV6) + "/64", "dev", kBridge, "nodad" });
    m_gateway->txChecksumOff(kBridge);
}

LanDevice& Lan::addDevice(const std::string& mac)
{
    auto n = m_devices.size() + 1;
    auto d = std::make_unique<LanDevice>();
    d->ns = std::make_unique<Netns>("dev");
    // Unique names: some DHCP clients keep lease and pid files per interface name, outside any namespace.
    d->ifname = "md" + std::to_string(::getpid() % 100000) + "x" + std::to_string(n);
    d->port = "gp" + std::to_string(n);
    d->mac = mac;
    addVeth(*m_gateway, d->port, *d->ns, d->ifname);
    d->ns->ip({ "link", "set", d->ifname, "address", mac });
    m_gateway->setMaster(d->port, kBridge);
    m_gateway->txChecksumOff(d->port);
    m_devices.push_back(std::move(d));
    return *m_devices.back();
}

} // namespace mudguard::test
