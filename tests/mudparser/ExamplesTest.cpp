// The MUD files in examples/: each is valid in strict mode without any diagnostic, and together
// they use every match the Profile carries.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "mudguard/mudparser/Parser.h"

#include "TestSupport.h"

using namespace mudguard::mudparser;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> exampleFiles()
{
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(mudguard::test::sourceDir() / "examples"))
        if (e.path().extension() == ".json" && e.path().filename() != "mudguard.json") // the daemon's configuration
            out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

const Parser& parser()
{
    static Parser p;
    return p;
}

class Example : public ::testing::TestWithParam<fs::path> { };

} // namespace

TEST_P(Example, IsValidWithoutDiagnostics)
{
    std::string text = mudguard::test::readFile(GetParam());
    for (Mode mode : { Mode::Strict, Mode::Lenient }) {
        ParseOptions options;
        options.mode = mode;
        options.fileName = GetParam().filename().string();
        auto r = parser().parse(text, options);
        ASSERT_TRUE(r.profile) << GetParam();
        for (const auto& d : r.report.diagnostics)
            ADD_FAILURE() << formatText(d);
        EXPECT_FALSE(r.profile->mudUrl.empty());
        EXPECT_FALSE(r.profile->fromDevicePolicy.empty());
        EXPECT_FALSE(r.profile->toDevicePolicy.empty());
        for (const auto& name : r.profile->fromDevicePolicy)
            EXPECT_TRUE(r.profile->findAcl(name)) << name;
        EXPECT_EQ(r.profile->mudUrl.rfind("https://", 0), 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Files, Example, ::testing::ValuesIn(exampleFiles()), [](const ::testing::TestParamInfo<fs::path>& param) {
        std::string n = param.param.stem().string();
        std::replace(n.begin(), n.end(), '-', '_');
        return n;
    });

TEST(Examples, CoverEveryMatch)
{
    std::set<std::string> seen;
    for (const auto& file : exampleFiles()) {
        auto r = parser().parse(mudguard::test::readFile(file));
        ASSERT_TRUE(r.profile) << file;
        const Profile& p = *r.profile;
        if (p.transparency)
            seen.insert("transparency");
        if (p.mudSignature)
            seen.insert("mud-signature");
        if (!p.isSupported)
            seen.insert("not-supported");
        for (const auto& acl : p.acls) {
            seen.insert("acl-type-" + std::to_string(static_cast<int>(acl.type)));
            for (const auto& ace : acl.aces) {
                const Matches& m = ace.matches;
                seen.insert("action-" + std::to_string(static_cast<int>(ace.action)));
                if (m.ip) {
                    seen.insert(m.ip->version == 4 ? "ipv4" : "ipv6");
                    if (m.ip->dscp)
                        seen.insert("dscp");
                    if (m.ip->ttl)
                        seen.insert(m.ip->version == 4 ? "ttl" : "hop-limit");
                    if (m.ip->flowLabel)
                        seen.insert("flow-label");
                    if (m.ip->srcNetwork || m.ip->dstNetwork)
                        seen.insert(m.ip->version == 4 ? "ipv4-network" : "ipv6-network");
                    if (m.ip->srcDnsName)
                        seen.insert("src-dnsname");
                    if (m.ip->dstDnsName)
                        seen.insert("dst-dnsname");
                }
                auto ports = [&](const std::string& proto, const std::optional<PortMatch>& pm) {
                    if (pm)
                        seen.insert(proto + "-port-op-" + std::to_string(static_cast<int>(pm->op)));
                };
                if (m.tcp) {
                    ports("tcp", m.tcp->srcPort);
                    ports("tcp", m.tcp->dstPort);
                    if (m.tcp->flags)
                        seen.insert("tcp-flags");
                    if (m.tcp->directionInitiated)
                        seen.insert(*m.tcp->directionInitiated == Initiator::FromDevice ? "initiated-from-device"
                                                                                        : "initiated-to-device");
                }
                if (m.udp) {
                    ports("udp", m.udp->srcPort);
                    ports("udp", m.udp->dstPort);
                }
                if (m.icmp)
                    seen.insert(m.ip && m.ip->version == 6 ? "icmpv6" : "icmp");
                if (m.eth) {
                    if (m.eth->ethertype)
                        seen.insert("ethertype");
                    if ((m.eth->src && m.eth->src->mask) || (m.eth->dst && m.eth->dst->mask))
                        seen.insert("mac-mask");
                    if (m.eth->src || m.eth->dst)
                        seen.insert("mac");
                }
                if (m.mud) {
                    if (m.mud->manufacturer)
                        seen.insert("manufacturer");
                    if (m.mud->sameManufacturer)
                        seen.insert("same-manufacturer");
                    if (m.mud->model)
                        seen.insert("model");
                    if (m.mud->localNetworks)
                        seen.insert("local-networks");
                    if (m.mud->controller)
                        seen.insert("controller");
                    if (m.mud->myController)
                        seen.insert("my-controller");
                }
            }
        }
    }
    std::vector<std::string> required = { "ipv4", "ipv6", "dscp", "ttl", "hop-limit", "flow-label", "ipv4-network",
        "ipv6-network", "src-dnsname", "dst-dnsname", "tcp-flags", "initiated-from-device", "initiated-to-device",
        "icmp", "icmpv6", "ethertype", "mac", "mac-mask", "manufacturer", "same-manufacturer", "model",
        "local-networks", "controller", "my-controller", "transparency", "mud-signature", "not-supported" };
    for (auto op : { PortOp::Eq, PortOp::Lte, PortOp::Gte, PortOp::Neq, PortOp::Range })
        required.push_back("tcp-port-op-" + std::to_string(static_cast<int>(op)));
    required.push_back("udp-port-op-" + std::to_string(static_cast<int>(PortOp::Range)));
    required.push_back("udp-port-op-" + std::to_string(static_cast<int>(PortOp::Neq)));
    for (auto a : { Action::Accept, Action::Drop, Action::Reject })
        required.push_back("action-" + std::to_string(static_cast<int>(a)));
    for (auto t : { AclType::Ipv4, AclType::Ipv6, AclType::Eth, AclType::MixedEthIpv4 })
        required.push_back("acl-type-" + std::to_string(static_cast<int>(t)));
    for (const auto& r : required)
        EXPECT_TRUE(seen.count(r)) << "no example uses " << r;
}
