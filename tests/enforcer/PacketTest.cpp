// Real packets through a real gateway: the enforcer drives nf_tables in a namespace and every
// match type, class, posture and atomicity property is checked with traffic between device,
// gateway and server namespaces (IPv4 and IPv6).

#include <chrono>

#include <gtest/gtest.h>
#include <poll.h>

#include "mudguard/enforcer/Enforcer.h"
#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/NetlinkApplier.h"

#include "CaseSupport.h"
#include "Lab.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

using namespace mudguard::enforcer;
using namespace std::chrono_literals;

/// A rule, built field by field.
struct R {
    Rule r;
    explicit R(std::string name) { r.name = std::move(name); }
    R& family(Family f) { return r.family = f, *this; }
    R& proto(std::uint8_t p) { return r.protocol = p, *this; }
    R& dst(const IpAddress& a) { return r.dstNet = Prefix::host(a), *this; }
    R& src(const IpAddress& a) { return r.srcNet = Prefix::host(a), *this; }
    R& dstNet(const char* p) { return r.dstNet = Prefix::parse(p), *this; }
    R& dstSet(SetRef s) { return r.dstSet = std::move(s), *this; }
    R& srcSet(SetRef s) { return r.srcSet = std::move(s), *this; }
    R& dport(PortSpec p) { return r.dstPort = p, *this; }
    R& sport(PortSpec p) { return r.srcPort = p, *this; }
    R& by(Initiator i) { return r.initiatedBy = i, *this; }
    R& icmp(std::uint8_t type) { return r.icmpType = type, *this; }
    R& flags(std::uint8_t f) { return r.tcpFlags = f, *this; }
    R& dscp(std::uint8_t d) { return r.dscp = d, *this; }
    R& ttl(std::uint8_t t) { return r.ttl = t, *this; }
    R& flowLabel(std::uint32_t l) { return r.flowLabel = l, *this; }
    R& dstMac(const char* m, const char* mask = "ff:ff:ff:ff:ff:ff")
    {
        r.dstMac = MacSpec { *MacAddress::parse(m), *MacAddress::parse(mask) };
        return *this;
    }
    R& srcMac(const char* m, const char* mask = "ff:ff:ff:ff:ff:ff")
    {
        r.srcMac = MacSpec { *MacAddress::parse(m), *MacAddress::parse(mask) };
        return *this;
    }
    R& ethertype(std::uint16_t e) { return r.ethertype = e, *this; }
    R& verdict(Verdict v) { return r.verdict = v, *this; }
    operator Rule() const { return r; }
};

SetRef dnsRef(const char* n) { return { SetRef::Kind::DnsName, n }; }

std::string withoutTimeouts(std::string s)
{
    for (auto pos = s.find(" timeout "); pos != std::string::npos; pos = s.find(" timeout ")) {
        auto end = s.find_first_of(",\n }", pos + 9);
        s.erase(pos, end - pos);
    }
    return s;
}

class Packets : public ::testing::Test {
public:
    static inline Lab* lab = nullptr;

protected:
    static inline Servers* server = nullptr;
    static inline Servers* router = nullptr;
    static inline std::vector<Servers*> devices;

    static void SetUpTestSuite()
    {
        requireNetns();
        lab = new Lab();
        server = new Servers(
            lab->serverNs(), { 22, 80, 443, 1000, 1023, 1024, 2000, 2001, 8000, 8080, 8443 }, { 53, 123, 5000, 5353 });
        router = new Servers(lab->gateway().name(), { 22 }, { 53 });
        for (int i = 0; i < 3; ++i)
            devices.push_back(new Servers(lab->device(i).ns, { 80, 443, 8080 }, { 5000 }));
    }

    static void TearDownTestSuite()
    {
        for (auto* d : devices)
            delete d;
        devices.clear();
        delete router;
        delete server;
        delete lab;
        router = server = nullptr;
        lab = nullptr;
    }

    void SetUp() override
    {
        // Every test starts from a gateway without mudguard's tables.
        lab->gateway().run({ "nft", "delete", "table", "inet", "mudguard" });
        lab->gateway().run({ "nft", "delete", "table", "bridge", "mudguard" });
    }

    void TearDown() override
    {
        // A failed test shows what the kernel held, with counters.
        if (HasFailure())
            std::cout << lab->gateway().run({ "nft", "list", "ruleset" }).out;
    }

    static Config rejecting()
    {
        Config c;
        c.denyAction = DenyAction::Reject; // blocked flows answer at once: fast tests
        return c;
    }

    std::unique_ptr<Enforcer> makeEnforcer(Config config = rejecting())
    {
        std::unique_ptr<Applier> applier;
        {
            EnterNetns in(lab->gateway());
            applier = makeNetlinkApplier();
        }
        return std::make_unique<Enforcer>(std::move(applier), std::move(config));
    }

    std::unique_ptr<Enforcer> start(const Transaction& t, Config config = rejecting())
    {
        auto e = makeEnforcer(std::move(config));
        e->start(t);
        expectListingMatches(*e);
        return e;
    }

    static void join(Transaction& t, int dev, const std::string& policyId, std::optional<std::string> mfr = {},
        std::optional<std::string> model = {})
    {
        const Host& h = lab->device(dev);
        t.setDevice(h.mac, policyId.empty() ? Assignment::pending() : Assignment::policy(policyId));
        t.setAddresses(h.mac, { h.v4, h.v6 });
        if (mfr || model)
            t.setClasses(h.mac, mfr, model);
    }

    /// After applying: what `nft list table` shows equals what the renderer says is enforced.
    static void expectListingMatches(const Enforcer& e)
    {
        std::string listed = lab->gateway().listTable("inet") + lab->gateway().listTable("bridge");
        std::string diff
            = lineDiff(normalizeListing(withoutTimeouts(e.render())), normalizeListing(withoutTimeouts(listed)));
        EXPECT_TRUE(diff.empty()) << "kernel listing differs from the rendered state:\n" << diff;
    }

    /// A TCP connection attempt. Linux reports an ICMPv6 error to a connecting socket only
    /// from the SYN's first retransmission (after 1 s), hence the timeout.
    static Outcome tcp(int dev, const IpAddress& to, std::uint16_t port, std::chrono::milliseconds timeout = 1500ms)
    {
        return Lab::tcp(lab->device(dev).ns, to, port, timeout);
    }
    static Outcome udp(int dev, const IpAddress& to, std::uint16_t port, UdpOptions o = {})
    {
        return Lab::udp(lab->device(dev).ns, to, port, std::chrono::milliseconds(700), o);
    }
    static IpAddress srv(int i, bool v6 = false) { return lab->server(i, v6); }
    static const Host& dev(int i) { return lab->device(i); }
};

/// Allows tcp/443 to server 0 (IPv4 and IPv6), opened by the device.
Policy webPolicy(const std::string& id)
{
    Policy p { id, "https://maker.example.com/" + id + ".json", {}, {} };
    for (bool v6 : { false, true }) {
        p.fromDevice.push_back(R("out/web" + std::string(v6 ? "6" : "4"))
                                   .proto(6)
                                   .dst(Packets::lab->server(0, v6))
                                   .dport(PortSpec::eq(443))
                                   .by(Initiator::Device));
        p.toDevice.push_back(R("in/web" + std::string(v6 ? "6" : "4"))
                                 .proto(6)
                                 .src(Packets::lab->server(0, v6))
                                 .sport(PortSpec::eq(443))
                                 .by(Initiator::Device));
    }
    return p;
}

TEST_F(Packets, AllowedPeerIsReachedForbiddenIsDroppedAndCounted)
{
    Transaction t;
    t.installPolicy(webPolicy("web"));
    join(t, 0, "web");
    auto e = start(t, Config {}); // the default posture: drop
    for (bool v6 : { false, true }) {
        EXPECT_EQ(tcp(0, srv(0, v6), 443), Outcome::Connected) << (v6 ? "IPv6" : "IPv4");
        auto before = e->deviceCounters(dev(0).mac).deniedFrom.packets;
        EXPECT_EQ(tcp(0, srv(1, v6), 443, 500ms), Outcome::Timeout) << "another server";
        EXPECT_EQ(tcp(0, srv(0, v6), 80, 500ms), Outcome::Timeout) << "another port";
        EXPECT_GT(e->deviceCounters(dev(0).mac).deniedFrom.packets, before) << "the drop counter moves";
    }
    // The servers cannot open connections to the device (to-device policy: replies only).
    auto toBefore = e->deviceCounters(dev(0).mac).deniedTo.packets;
    EXPECT_EQ(Lab::tcp(lab->serverNs(), dev(0).v4, 443, 500ms), Outcome::Timeout);
    EXPECT_GT(e->deviceCounters(dev(0).mac).deniedTo.packets, toBefore);
    // Per-ACE hits for auditors.
    bool counted = false;
    for (const auto& c : e->policyCounters("web"))
        counted = counted || (c.ace == "out/web4" && c.counter.packets > 0);
    EXPECT_TRUE(counted);
    expectListingMatches(*e);
}

TEST_F(Packets, DirectionInitiatedHoldsBothWays)
{
    Policy p { "dir", "https://maker.example.com/dir.json", {}, {} };
    // The device opens tcp/443 to server 0; server 0 opens tcp/8080 to the device.
    p.fromDevice.push_back(R("out/open").proto(6).dst(srv(0)).dport(PortSpec::eq(443)).by(Initiator::Device));
    p.toDevice.push_back(R("in/answer").proto(6).src(srv(0)).sport(PortSpec::eq(443)).by(Initiator::Device));
    p.toDevice.push_back(R("in/open").proto(6).src(srv(0)).dport(PortSpec::eq(8080)).by(Initiator::Remote));
    p.fromDevice.push_back(R("out/answer").proto(6).dst(srv(0)).sport(PortSpec::eq(8080)).by(Initiator::Remote));
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "dir");
    auto e = start(t);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Connected) << "the device opens";
    EXPECT_EQ(Lab::tcp(lab->serverNs(), dev(0).v4, 443), Outcome::Unreachable) << "the other side may not open";
    EXPECT_EQ(Lab::tcp(lab->serverNs(), dev(0).v4, 8080), Outcome::Connected) << "the remote opens";
    EXPECT_EQ(tcp(0, srv(0), 8080), Outcome::Unreachable) << "the device may not open";
}

TEST_F(Packets, PortsRangesAndOperators)
{
    Policy p { "ports", "https://maker.example.com/ports.json", {}, {} };
    auto to0 = [&](const char* name, std::uint8_t proto, PortSpec s) {
        p.fromDevice.push_back(R(name).family(Family::Ipv4).proto(proto).dst(srv(0)).dport(s));
    };
    to0("a/eq", 6, PortSpec::eq(1023));
    to0("a/lte", 6, PortSpec::lte(80));
    to0("a/gte", 6, PortSpec::gte(8080));
    to0("a/range", 6, PortSpec::range(2000, 2001));
    to0("a/neq", 17, PortSpec::neq(53));
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "ports");
    auto e = start(t);
    for (std::uint16_t port : { 1023, 22, 80, 8080, 8443, 2000, 2001 })
        EXPECT_EQ(tcp(0, srv(0), port), Outcome::Connected) << "tcp " << port;
    for (std::uint16_t port : { 1000, 443, 1024, 8000 })
        EXPECT_EQ(tcp(0, srv(0), port), Outcome::Unreachable) << "tcp " << port;
    for (std::uint16_t port : { 5000, 123 })
        EXPECT_EQ(udp(0, srv(0), port), Outcome::Connected) << "udp " << port;
    EXPECT_EQ(udp(0, srv(0), 53), Outcome::Unreachable) << "udp 53 (neq)";
}

TEST_F(Packets, DnsNameSetOpensAndClosesWithTheTtl)
{
    Policy p { "dns", "https://maker.example.com/dns.json", {}, {} };
    p.fromDevice.push_back(R("out/svc").proto(6).dstSet(dnsRef("svc.example.com")).dport(PortSpec::eq(443)));
    p.toDevice.push_back(R("in/svc").proto(6).srcSet(dnsRef("svc.example.com")).sport(PortSpec::eq(443)));
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "dns");
    auto e = start(t);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Unreachable) << "the name has no address yet";
    Transaction answer;
    answer.setDnsAddresses("svc.example.com", { { srv(0), 2s }, { srv(0, true), 2s } });
    e->commit(answer);
    expectListingMatches(*e);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Connected);
    EXPECT_EQ(tcp(0, srv(0, true), 443), Outcome::Connected);
    EXPECT_EQ(tcp(0, srv(1), 443), Outcome::Unreachable) << "an address the name does not have";
    // The kernel expires the elements by itself.
    EXPECT_TRUE(waitFor([&] { return tcp(0, srv(0), 443) == Outcome::Unreachable; }, 10s))
        << "access did not close after the TTL";
    EXPECT_TRUE(waitFor([&] { return tcp(0, srv(0, true), 443) == Outcome::Unreachable; }, 10s));
}

TEST_F(Packets, LocalNetworksAndControllerClasses)
{
    SetRef lan { SetRef::Kind::LocalNetworks, "" };
    SetRef ctl { SetRef::Kind::Controller, "urn:example:controller" };
    Policy p { "cls", "https://maker.example.com/cls.json", {}, {} };
    p.fromDevice.push_back(R("out/lan").proto(6).dstSet(lan).dport(PortSpec::eq(80)));
    p.fromDevice.push_back(R("out/lan-reply").proto(6).dstSet(lan).sport(PortSpec::eq(80)));
    p.fromDevice.push_back(R("out/ctl").proto(6).dstSet(ctl).dport(PortSpec::eq(443)));
    p.toDevice.push_back(R("in/lan").proto(6).srcSet(lan).dport(PortSpec::eq(80)));
    p.toDevice.push_back(R("in/lan-reply").proto(6).srcSet(lan).sport(PortSpec::eq(80)));
    Transaction t;
    t.installPolicy(p);
    t.setClassPrefixes(lan, lab->lanPrefixes());
    t.setClassPrefixes(ctl, { Prefix::host(srv(2)), Prefix::host(srv(2, true)) });
    join(t, 0, "cls");
    join(t, 1, "cls");
    auto e = start(t);
    for (bool v6 : { false, true }) {
        EXPECT_EQ(tcp(0, v6 ? dev(1).v6 : dev(1).v4, 80), Outcome::Connected) << "local network, same bridge";
        EXPECT_EQ(tcp(0, srv(2, v6), 443), Outcome::Connected) << "the controller";
        EXPECT_EQ(tcp(0, srv(0, v6), 443), Outcome::Unreachable) << "not the controller";
        EXPECT_EQ(tcp(0, srv(0, v6), 80), Outcome::Unreachable) << "not a local network";
    }
    // The controller moves: one set update, and access follows.
    Transaction move;
    move.setClassPrefixes(ctl, { Prefix::host(srv(0)) });
    e->commit(move);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Connected);
    EXPECT_EQ(tcp(0, srv(2), 443), Outcome::Unreachable);
    expectListingMatches(*e);
}

TEST_F(Packets, ManufacturerSameManufacturerAndModelOnOneBridge)
{
    SetRef maker { SetRef::Kind::Manufacturer, "maker.example.com" };
    SetRef other { SetRef::Kind::Manufacturer, "other.example.com" };
    Policy same { "same", "https://maker.example.com/same.json", { R("out/same").dstSet(maker) },
        { R("in/same").srcSet(maker) } };
    Policy toOther { "toother", "https://maker.example.com/o.json", { R("out/other").dstSet(other) },
        { R("in/other").srcSet(other) } };
    Policy toMaker { "tomaker", "https://other.example.com/m.json", { R("out/maker").dstSet(maker) },
        { R("in/maker").srcSet(maker) } };
    Transaction t;
    t.installPolicy(same).installPolicy(toOther).installPolicy(toMaker);
    join(t, 0, "same", "maker.example.com", "https://maker.example.com/same.json");
    join(t, 1, "same", "maker.example.com", "https://maker.example.com/same.json");
    join(t, 2, "tomaker", "other.example.com", "https://other.example.com/m.json");
    auto e = start(t);
    EXPECT_EQ(tcp(0, dev(1).v4, 80), Outcome::Connected) << "same manufacturer";
    EXPECT_EQ(tcp(0, dev(1).v6, 80), Outcome::Connected);
    EXPECT_EQ(tcp(1, dev(0).v4, 80), Outcome::Connected);
    EXPECT_EQ(Lab::tcp(dev(2).ns, dev(1).v4, 80, 300ms), Outcome::Timeout)
        << "another manufacturer is refused by dev2's policy";
    EXPECT_EQ(Lab::tcp(dev(0).ns, dev(2).v4, 80, 300ms), Outcome::Timeout);

    // Manufacturer: device 0 may talk to other.example.com's devices, which accept maker's.
    Transaction m;
    m.setDevice(dev(0).mac, Assignment::policy("toother"));
    e->commit(m);
    EXPECT_EQ(tcp(0, dev(2).v4, 80), Outcome::Connected) << "manufacturer class";
    EXPECT_EQ(Lab::tcp(dev(0).ns, dev(1).v4, 80, 300ms), Outcome::Timeout);

    // Model: same MUD URL only; device 1 changes its model and loses access.
    SetRef model { SetRef::Kind::Model, "https://maker.example.com/same.json" };
    Policy byModel { "model", "https://maker.example.com/same.json", { R("out/model").dstSet(model) },
        { R("in/model").srcSet(model) } };
    Transaction mo;
    mo.installPolicy(byModel);
    mo.setDevice(dev(0).mac, Assignment::policy("model"));
    mo.setDevice(dev(1).mac, Assignment::policy("model"));
    e->commit(mo);
    EXPECT_EQ(tcp(0, dev(1).v4, 80), Outcome::Connected) << "same model";
    Transaction change;
    change.setClasses(dev(1).mac, "maker.example.com", "https://maker.example.com/other-model.json");
    e->commit(change);
    EXPECT_EQ(Lab::tcp(dev(0).ns, dev(1).v4, 80, 300ms), Outcome::Timeout) << "another model";
    expectListingMatches(*e);
}

TEST_F(Packets, RejectGivesAnIcmpError)
{
    Transaction t;
    t.installPolicy(webPolicy("web"));
    join(t, 0, "web");
    auto e = start(t, rejecting());
    for (bool v6 : { false, true }) {
        EXPECT_EQ(tcp(0, srv(1, v6), 443), Outcome::Unreachable) << (v6 ? "IPv6" : "IPv4");
        EXPECT_EQ(udp(0, srv(1, v6), 5000), Outcome::Unreachable);
    }
    // An explicit drop ACE drops even under the reject posture; an explicit reject rejects.
    Policy p = webPolicy("web");
    p.fromDevice.insert(p.fromDevice.begin(), R("out/drop").proto(17).dport(PortSpec::eq(5353)).verdict(Verdict::Drop));
    p.fromDevice.insert(
        p.fromDevice.begin(), R("out/reject").proto(17).dport(PortSpec::eq(123)).verdict(Verdict::Reject));
    Transaction change;
    change.installPolicy(p);
    e->commit(change);
    EXPECT_EQ(Lab::udp(dev(0).ns, srv(0), 5353, 500ms), Outcome::Timeout);
    EXPECT_EQ(udp(0, srv(0), 123), Outcome::Unreachable);
}

TEST_F(Packets, UnmanagedDevicesAreUntouchedUnlessHeld)
{
    Transaction t;
    t.installPolicy(webPolicy("web"));
    join(t, 0, "web");
    auto e = start(t);
    EXPECT_EQ(tcp(2, srv(1), 443), Outcome::Connected) << "device 3 is not managed";
    EXPECT_EQ(Lab::tcp(lab->serverNs(), dev(2).v4, 80), Outcome::Connected);
    EXPECT_EQ(tcp(2, dev(1).v4, 80), Outcome::Connected);
    EXPECT_EQ(tcp(0, srv(1), 443), Outcome::Unreachable) << "device 1 is";

    Config hold = rejecting();
    hold.holdUnmanaged = true;
    hold.lanInterfaces = { "br0" };
    Transaction posture;
    posture.setConfig(hold);
    e->commit(posture);
    EXPECT_EQ(tcp(2, srv(1), 443), Outcome::Unreachable) << "held: infrastructure only";
    EXPECT_EQ(udp(2, lab->routerLan(), 53), Outcome::Connected) << "DNS to the router stays open";
    expectListingMatches(*e);
}

TEST_F(Packets, PendingAndQuarantinedDevicesGetInfrastructureOnly)
{
    Transaction t;
    t.installPolicy(webPolicy("web"));
    join(t, 0, ""); // pending
    auto e = start(t);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Unreachable) << "pending: fail closed";
    EXPECT_EQ(udp(0, lab->routerLan(), 53), Outcome::Connected) << "DNS to the router";
    EXPECT_EQ(udp(0, lab->routerLan(true), 53), Outcome::Connected);
    EXPECT_EQ(tcp(0, lab->routerLan(), 22), Outcome::Unreachable) << "no other router service";
    Transaction go;
    go.setDevice(dev(0).mac, Assignment::policy("web"));
    e->commit(go);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Connected);
    EXPECT_EQ(tcp(0, lab->routerLan(), 22), Outcome::Unreachable) << "managed: router services only when allowed";
    Transaction q;
    q.setDevice(dev(0).mac, Assignment::quarantine());
    e->commit(q);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Unreachable);
    EXPECT_EQ(udp(0, lab->routerLan(), 53), Outcome::Connected);
    // A policy that names the router (a controller class) opens that service.
    SetRef ctl { SetRef::Kind::Controller, "urn:ietf:params:mud:ssh" };
    Policy p { "admin", "local", { R("out/ssh").proto(6).dstSet(ctl).dport(PortSpec::eq(22)) }, {} };
    Transaction a;
    a.installPolicy(p)
        .setClassPrefixes(ctl, { Prefix::host(lab->routerLan()) })
        .setDevice(dev(0).mac, Assignment::policy("admin"));
    e->commit(a);
    EXPECT_EQ(tcp(0, lab->routerLan(), 22), Outcome::Connected);
}

TEST_F(Packets, IcmpTypesAndFlowLabel)
{
    Policy p { "icmp", "https://maker.example.com/icmp.json", {}, {} };
    p.fromDevice.push_back(R("out/echo4").family(Family::Ipv4).dst(srv(0)).icmp(8));
    p.fromDevice.push_back(R("out/echo6").family(Family::Ipv6).dst(srv(0, true)).icmp(128).flowLabel(0x12345));
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "icmp");
    auto e = start(t);
    EXPECT_TRUE(Lab::ping(dev(0).ns, srv(0)));
    EXPECT_FALSE(Lab::ping(dev(0).ns, srv(1)));
    EXPECT_TRUE(Lab::ping(dev(0).ns, srv(0, true), 0x12345)) << "the flow label matches";
    EXPECT_FALSE(Lab::ping(dev(0).ns, srv(0, true), 0x54321)) << "another flow label";
}

TEST_F(Packets, TcpFlagsDscpAndTtl)
{
    Policy p { "hdr", "https://maker.example.com/hdr.json", {}, {} };
    p.fromDevice.push_back(R("out/syn").proto(6).dst(srv(0)).dport(PortSpec::eq(443)).flags(kTcpSyn));
    p.fromDevice.push_back(R("out/fin").proto(6).dst(srv(0)).dport(PortSpec::eq(80)).flags(kTcpFin));
    p.fromDevice.push_back(R("out/dscp").family(Family::Ipv4).proto(17).dst(srv(0)).dport(PortSpec::eq(5000)).dscp(46));
    p.fromDevice.push_back(
        R("out/dscp6").family(Family::Ipv6).proto(17).dst(srv(0, true)).dport(PortSpec::eq(5000)).dscp(10));
    // The router sees the TTL after its own decrement: 64 sent, 63 matched.
    p.fromDevice.push_back(R("out/ttl").family(Family::Ipv4).proto(17).dst(srv(0)).dport(PortSpec::eq(123)).ttl(63));
    p.fromDevice.push_back(
        R("out/hops").family(Family::Ipv6).proto(17).dst(srv(0, true)).dport(PortSpec::eq(123)).ttl(9));
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "hdr");
    auto e = start(t);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Connected) << "a SYN has the syn flag";
    EXPECT_EQ(tcp(0, srv(0), 80), Outcome::Unreachable) << "a SYN has no fin flag";
    EXPECT_EQ(udp(0, srv(0), 5000, { 46, -1 }), Outcome::Connected) << "dscp ef";
    EXPECT_EQ(udp(0, srv(0), 5000, { 0, -1 }), Outcome::Unreachable) << "dscp cs0";
    EXPECT_EQ(udp(0, srv(0, true), 5000, { 10, -1 }), Outcome::Connected) << "IPv6 dscp af11";
    EXPECT_EQ(udp(0, srv(0, true), 5000, { 12, -1 }), Outcome::Unreachable);
    EXPECT_EQ(udp(0, srv(0), 123, { -1, 64 }), Outcome::Connected) << "ttl";
    EXPECT_EQ(udp(0, srv(0), 123, { -1, 32 }), Outcome::Unreachable);
    EXPECT_EQ(udp(0, srv(0, true), 123, { -1, 10 }), Outcome::Connected) << "hop limit";
    EXPECT_EQ(udp(0, srv(0, true), 123, { -1, 64 }), Outcome::Unreachable);
}

TEST_F(Packets, EthernetMatchesInTheBridge)
{
    // Device 0 may send to device 1 by MAC, to the 02:00:00:00:00:1x block only on IPv4
    // (ethertype), and accepts frames from device 1 only.
    Policy p { "eth", "https://maker.example.com/eth.json", {}, {} };
    p.fromDevice.push_back(R("out/mac").dstMac("02:00:00:00:00:12"));
    p.fromDevice.push_back(R("out/block").dstMac("02:00:00:00:00:10", "ff:ff:ff:ff:ff:f0").ethertype(0x0800));
    p.toDevice.push_back(R("in/mac").srcMac("02:00:00:00:00:12"));
    p.toDevice.push_back(R("in/block").srcMac("02:00:00:00:00:13").ethertype(0x0800));
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "eth");
    auto e = start(t);
    EXPECT_EQ(tcp(0, dev(1).v4, 80), Outcome::Connected) << "exact MAC";
    EXPECT_EQ(tcp(0, dev(1).v6, 80), Outcome::Connected);
    EXPECT_EQ(tcp(0, dev(2).v4, 80), Outcome::Connected) << "masked MAC, IPv4 ethertype";
    EXPECT_EQ(Lab::tcp(dev(0).ns, dev(2).v6, 80, 300ms), Outcome::Timeout) << "masked MAC, but not IPv4";
}

TEST_F(Packets, ProtocolOnlyAndPrefixes)
{
    Policy p { "proto", "https://maker.example.com/proto.json", {}, {} };
    p.fromDevice.push_back(R("out/udp").proto(17).dstNet("198.51.100.0/28"));
    p.fromDevice.push_back(R("out/net6").dstNet("2001:db8:100::/123"));
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "proto");
    auto e = start(t);
    EXPECT_EQ(udp(0, srv(0), 5000), Outcome::Connected) << "198.51.100.10 is in /28";
    EXPECT_EQ(udp(0, srv(1), 5000), Outcome::Unreachable) << "198.51.100.20 is not";
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Unreachable) << "udp only";
    EXPECT_EQ(tcp(0, srv(0, true), 443), Outcome::Connected) << "any protocol to the IPv6 /123";
    EXPECT_EQ(tcp(0, srv(2, true), 443), Outcome::Unreachable);
}

TEST_F(Packets, DnsAnswersToManagedDevicesReachTheDnsLogGroup)
{
    Policy p { "resolver", "https://maker.example.com/resolver.json", {}, {} };
    for (bool v6 : { false, true })
        p.fromDevice.push_back(R(v6 ? "out/dns6" : "out/dns4").proto(17).dst(srv(0, v6)).dport(PortSpec::eq(53)));
    Config c = rejecting();
    c.dnsLogGroup = 7;
    NflogReader nflog(lab->gateway().name(), 7);
    Transaction t;
    t.installPolicy(p);
    join(t, 0, "resolver");
    auto e = start(t, c);
    std::vector<LoggedPacket> seen;
    auto logged = [&](const IpAddress& from, const IpAddress& to) {
        return waitFor(
            [&] {
                auto more = nflog.drain();
                seen.insert(seen.end(), more.begin(), more.end());
                for (const auto& l : seen)
                    if (l.prefix == "mudguard-dns " && l.source == from && l.destination == to)
                        return true;
                return false;
            },
            2s);
    };
    for (bool v6 : { false, true }) {
        const IpAddress& to = v6 ? dev(0).v6 : dev(0).v4;
        EXPECT_EQ(udp(0, lab->routerLan(v6), 53), Outcome::Connected);
        EXPECT_TRUE(logged(lab->routerLan(v6), to)) << "the router's own answer (output hook)";
        EXPECT_EQ(udp(0, srv(0, v6), 53), Outcome::Connected) << "the verdict is unchanged";
        EXPECT_TRUE(logged(srv(0, v6), to)) << "a forwarded answer";
    }
    // An unmanaged device's answers are not copied.
    seen.clear();
    EXPECT_EQ(udp(2, lab->routerLan(), 53), Outcome::Connected);
    EXPECT_EQ(udp(0, lab->routerLan(), 53), Outcome::Connected);
    EXPECT_TRUE(logged(lab->routerLan(), dev(0).v4)) << "a later answer to the managed device";
    for (const auto& l : seen)
        EXPECT_NE(l.destination, dev(2).v4) << "an unmanaged device's answer was logged";
    expectListingMatches(*e);
}

TEST_F(Packets, FailedBatchLeavesTheRulesInForce)
{
    Transaction t;
    t.installPolicy(webPolicy("web"));
    join(t, 0, "web");
    auto e = start(t);
    std::string before = lab->gateway().listTable("inet");
    std::unique_ptr<Applier> other;
    {
        EnterNetns in(lab->gateway());
        other = makeNetlinkApplier();
    }
    Batch b;
    b.flushChain(ir::TableFamily::Inet, "p_web_from");
    b.flushChain(ir::TableFamily::Inet, "from_dev");
    b.deleteSet(ir::TableFamily::Inet, "no_such_set"); // the last operation fails
    EXPECT_THROW(other->apply(b), ApplyError);
    EXPECT_EQ(lab->gateway().listTable("inet"), before);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Connected);
    EXPECT_EQ(tcp(0, srv(1), 443), Outcome::Unreachable);
}

TEST_F(Packets, DeletedTableComesBack)
{
    Transaction t;
    t.installPolicy(webPolicy("web"));
    join(t, 0, "web");
    auto e = start(t);
    ASSERT_GE(e->eventFd(), 0);
    e->handleEvents(); // nothing foreign yet
    lab->gateway().must({ "nft", "delete", "table", "inet", "mudguard" });
    EXPECT_EQ(tcp(0, srv(1), 443), Outcome::Connected) << "unprotected while the table is gone";
    auto t0 = std::chrono::steady_clock::now();
    pollfd p { e->eventFd(), POLLIN, 0 };
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "no nftables event";
    EXPECT_TRUE(e->handleEvents());
    auto restoredIn = std::chrono::steady_clock::now() - t0;
    std::cout << "restored in " << std::chrono::duration_cast<std::chrono::microseconds>(restoredIn).count() << " us\n";
    expectListingMatches(*e);
    EXPECT_EQ(tcp(0, srv(1), 443), Outcome::Unreachable);
    EXPECT_EQ(tcp(0, srv(0), 443), Outcome::Connected);
    // Emptying a chain is noticed as well.
    lab->gateway().must({ "nft", "flush", "chain", "bridge", "mudguard", "forward" });
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    EXPECT_TRUE(e->handleEvents());
    expectListingMatches(*e);
}

TEST_F(Packets, RestartReconcilesWithoutAWindow)
{
    Policy p { "udp", "https://maker.example.com/udp.json",
        { R("out/5000").proto(17).dst(srv(0)).dport(PortSpec::eq(5000)) }, {} };
    Transaction saved;
    saved.installPolicy(p);
    join(saved, 0, "udp");
    auto e = start(saved, Config {});
    // Device 0 sends to an allowed and a forbidden destination once a millisecond, while the
    // enforcer is destroyed and a new one restores the saved state (plus a device that joined
    // meanwhile) over the tables the kernel still holds.
    std::size_t allowedBefore = server->udpFrom(dev(0).v4, 5000);
    {
        UdpStream stream(dev(0).ns, { { srv(0), 5000 }, { srv(1), 5353 } });
        EXPECT_TRUE(waitFor([&] { return stream.rounds() > 50; }, 10s));
        e.reset();
        Transaction restore = saved;
        join(restore, 1, "udp");
        e = makeEnforcer(Config {});
        auto stats = e->start(restore);
        EXPECT_FALSE(stats.structural) << "nothing is recreated";
        std::size_t rounds = stream.rounds();
        EXPECT_TRUE(waitFor([&] { return stream.rounds() > rounds + 50; }, 10s));
    }
    EXPECT_EQ(server->udpFrom(dev(0).v4, 5353), 0u) << "a forbidden datagram passed";
    EXPECT_GT(server->udpFrom(dev(0).v4, 5000), allowedBefore + 100) << "allowed traffic kept flowing";
    expectListingMatches(*e);
    EXPECT_EQ(udp(1, srv(0), 5000), Outcome::Connected);
}

} // namespace
} // namespace mudguard::test
