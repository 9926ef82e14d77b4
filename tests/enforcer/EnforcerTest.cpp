// The stateful Enforcer against a fake kernel: what each kind of change sends (element-only
// joins, one batch per policy change), all-or-nothing failures, reconcile and restore.

#include "mudguard/enforcer/Enforcer.h"

#include <gtest/gtest.h>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Render.h"

#include "CaseSupport.h"
#include "FakeApplier.h"

namespace mudguard::test {
namespace {

using namespace mudguard::enforcer;
using Kind = BatchOp::Kind;
using std::chrono::seconds;

MacAddress mac(unsigned i)
{
    return MacAddress { { 0x02, 0x00, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
        static_cast<std::uint8_t>(i), 0x01 } };
}

IpAddress ip4(unsigned i)
{
    return *IpAddress::parse(
        "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255));
}

IpAddress ip6(unsigned i) { return *IpAddress::parse("2001:db8::" + std::to_string(i)); }

Policy policy(const std::string& id, std::uint16_t port = 443, std::string dns = "cloud.example.com")
{
    Rule out;
    out.name = "from/cloud";
    out.protocol = 6;
    out.dstSet = SetRef { SetRef::Kind::DnsName, dns };
    out.dstPort = PortSpec::eq(port);
    out.initiatedBy = Initiator::Device;
    Rule lan;
    lan.name = "from/lan";
    lan.dstSet = SetRef { SetRef::Kind::LocalNetworks, "" };
    Rule in;
    in.name = "to/cloud";
    in.protocol = 6;
    in.srcSet = SetRef { SetRef::Kind::DnsName, dns };
    in.srcPort = PortSpec::eq(port);
    in.initiatedBy = Initiator::Device;
    return Policy { id, "https://example.com/" + id + ".json", { out, lan }, { in } };
}

/// The fake kernel rendered like the enforcer renders its desired state.
std::string renderFake(const FakeApplier& fake, ir::TableFamily f)
{
    const auto& t = fake.table(f);
    if (!t)
        return {};
    ir::ElementMap elements;
    for (const auto& [set, els] : t->elements)
        elements[set] = std::vector<ir::Element>(els.begin(), els.end());
    std::string text = render(ir::Table { f, t->sets, {} }, elements);
    text.pop_back(); // "}\n" of the table: chains follow
    text.pop_back();
    for (const auto& c : t->chains) {
        ir::Chain shell { c.name, c.hook, c.comment, {} };
        std::string block = renderChain(shell);
        block.erase(block.size() - 3); // "\t}\n"
        for (const auto& r : c.rules)
            block += "\t\t" + r + "\n";
        text += "\n" + block + "\t}\n";
    }
    return text + "}\n";
}

std::string withoutTimeouts(std::string s)
{
    for (auto pos = s.find(" timeout "); pos != std::string::npos; pos = s.find(" timeout ")) {
        auto end = s.find_first_of(",\n }", pos + 9);
        s.erase(pos, end - pos);
    }
    return s;
}

void expectKernelEqualsDesired(const Enforcer& e, const FakeApplier& fake)
{
    std::string kernel = renderFake(fake, ir::TableFamily::Inet) + renderFake(fake, ir::TableFamily::Bridge);
    std::string diff = lineDiff(normalizeListing(withoutTimeouts(e.render()), false), normalizeListing(kernel, false));
    EXPECT_TRUE(diff.empty()) << diff;
}

struct Fixture : ::testing::Test {
    FakeApplier* fake = nullptr;
    std::unique_ptr<Enforcer> enforcer;
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point {} + std::chrono::hours(1);

    void SetUp() override
    {
        auto f = std::make_unique<FakeApplier>();
        fake = f.get();
        enforcer = std::make_unique<Enforcer>(std::move(f), Config {}, [this] { return now; });
    }

    void startWith(unsigned devices, unsigned policies = 1)
    {
        Transaction t;
        for (unsigned p = 0; p < policies; ++p)
            t.installPolicy(policy("p" + std::to_string(p)));
        t.setClassPrefixes({ SetRef::Kind::LocalNetworks, "" }, { *Prefix::parse("10.0.0.0/8") });
        for (unsigned i = 0; i < devices; ++i) {
            t.setDevice(mac(i), Assignment::policy("p" + std::to_string(i % policies)));
            t.setAddresses(mac(i), { ip4(i), ip6(i) });
        }
        enforcer->start(std::move(t));
    }

    const Batch& last() const { return fake->batches.back(); }
};

TEST_F(Fixture, StartCreatesBothTablesInOneBatch)
{
    startWith(3);
    ASSERT_EQ(fake->batches.size(), 1u);
    EXPECT_EQ(opKinds(last())[Kind::AddTable], 2u);
    expectKernelEqualsDesired(*enforcer, *fake);
    EXPECT_EQ(enforcer->deviceCount(), 3u);
    // A second reconcile finds nothing to do.
    auto stats = enforcer->reconcile();
    EXPECT_EQ(stats.operations, 0u);
}

TEST_F(Fixture, JoinIsElementsOnlyAndIndependentOfTheDeviceCount)
{
    auto joinBatch = [&](unsigned existing) {
        SetUp();
        startWith(existing, 5);
        Transaction t;
        t.setDevice(mac(900000), Assignment::policy("p3"));
        t.setAddresses(mac(900000), { ip4(900000), ip6(900000) });
        t.setClasses(mac(900000), "example.com", "https://example.com/p3.json");
        enforcer->commit(t);
        expectKernelEqualsDesired(*enforcer, *fake);
        return last();
    };
    Batch small = joinBatch(10), large = joinBatch(2000);
    EXPECT_TRUE(elementsOnly(small));
    EXPECT_EQ(small.ops.size(), large.ops.size());
    EXPECT_EQ(small.elementCount(), large.elementCount());
    // Its MAC in the inet and bridge membership and managed sets, one IPv4 and one IPv6
    // address in the inet membership and managed sets.
    EXPECT_EQ(large.elementCount(), 8u);
}

TEST_F(Fixture, LeaveRemovesItsElementsAndItsCounters)
{
    startWith(4);
    Transaction t;
    t.removeDevice(mac(2));
    enforcer->commit(t);
    EXPECT_TRUE(elementsOnly(last()));
    EXPECT_FALSE(enforcer->device(mac(2)));
    expectKernelEqualsDesired(*enforcer, *fake);
    // The counter elements were added then deleted: the kernel's drop sets hold nothing of it.
    for (const auto& op : last().ops) {
        if (op.name == "drop_mac") {
            EXPECT_EQ(op.elements.at(0), elementOf(mac(2)));
        }
    }
}

TEST_F(Fixture, AddressChangesMoveAddressesBetweenDevices)
{
    startWith(2);
    Transaction t;
    t.addAddress(mac(1), ip4(0)); // device 0's address moves to device 1
    enforcer->commit(t);
    EXPECT_TRUE(elementsOnly(last()));
    EXPECT_EQ(enforcer->device(mac(0))->addresses, std::vector<IpAddress> { ip6(0) });
    auto d1 = enforcer->device(mac(1))->addresses;
    EXPECT_NE(std::find(d1.begin(), d1.end(), ip4(0)), d1.end());
    expectKernelEqualsDesired(*enforcer, *fake);
    Transaction r;
    r.removeAddress(mac(1), ip4(0));
    enforcer->commit(r);
    expectKernelEqualsDesired(*enforcer, *fake);
}

TEST_F(Fixture, PolicyReplacementRefillsOnlyItsChains)
{
    startWith(6, 2);
    Transaction t;
    t.installPolicy(policy("p1", 8443));
    enforcer->commit(t);
    auto kinds = opKinds(last());
    EXPECT_EQ(kinds[Kind::FlushChain], 4u) << "p_p1_from and p_p1_to, in inet and bridge";
    EXPECT_EQ(kinds[Kind::AddChain], 0u);
    for (const auto& op : last().ops) {
        if (op.kind == Kind::FlushChain) {
            EXPECT_EQ(op.name.rfind("p_p1_", 0), 0u) << op.name;
        }
    }
    expectKernelEqualsDesired(*enforcer, *fake);
}

TEST_F(Fixture, PolicyChangeMovesDevicesInOneBatch)
{
    startWith(6, 2);
    std::size_t before = fake->batches.size();
    Transaction t;
    t.installPolicy(policy("p9", 9443, "other.example.com"));
    for (unsigned i = 0; i < 6; i += 2)
        t.setDevice(mac(i), Assignment::policy("p9"));
    t.removePolicy("p0");
    enforcer->commit(t);
    ASSERT_EQ(fake->batches.size(), before + 1);
    auto kinds = opKinds(last());
    EXPECT_EQ(kinds[Kind::AddChain], 4u) << "two chains in each table";
    EXPECT_EQ(kinds[Kind::DeleteChain], 4u);
    EXPECT_GE(kinds[Kind::DeleteSet], 3u);
    EXPECT_EQ(enforcer->device(mac(0))->assignment, Assignment::policy("p9"));
    EXPECT_FALSE(enforcer->policy("p0"));
    expectKernelEqualsDesired(*enforcer, *fake);
}

TEST_F(Fixture, RemovedPolicyLeavesItsDevicesPending)
{
    startWith(4, 2);
    Transaction t;
    t.removePolicy("p1");
    enforcer->commit(t);
    EXPECT_EQ(enforcer->device(mac(1))->assignment, Assignment::pending());
    EXPECT_EQ(enforcer->device(mac(0))->assignment, Assignment::policy("p0"));
    expectKernelEqualsDesired(*enforcer, *fake);
    ASSERT_TRUE(fake->table(ir::TableFamily::Inet));
    EXPECT_TRUE(fake->table(ir::TableFamily::Inet)->elements.at("pending_mac").count(elementOf(mac(1))));
}

TEST_F(Fixture, FailedBatchChangesNothing)
{
    startWith(3);
    std::string before = enforcer->render();
    auto kernelBefore = renderFake(*fake, ir::TableFamily::Inet);
    Transaction t;
    t.setDevice(mac(7), Assignment::policy("p0"));
    t.setAddresses(mac(7), { ip4(7) });
    t.removeDevice(mac(1));
    // Fail the batch in its last operation.
    Transaction probe = t;
    fake->failAt(3, ENOMEM);
    EXPECT_THROW(enforcer->commit(t), ApplyError);
    EXPECT_FALSE(enforcer->device(mac(7)));
    EXPECT_TRUE(enforcer->device(mac(1)));
    EXPECT_EQ(enforcer->render(), before);
    EXPECT_EQ(renderFake(*fake, ir::TableFamily::Inet), kernelBefore);
    // The same transaction then succeeds.
    enforcer->commit(probe);
    EXPECT_TRUE(enforcer->device(mac(7)));
    expectKernelEqualsDesired(*enforcer, *fake);
}

TEST_F(Fixture, UndoOfATransactionBringsBackTheStateBeforeIt)
{
    // The daemon returns the kernel to where its memory is when the state database refuses a
    // change the kernel already took: the undo is computed before the change is committed.
    startWith(4, 2);
    Transaction dns;
    dns.setDnsAddresses("cloud.example.com", { { ip4(900), seconds(600) }, { ip4(901), seconds(600) } });
    enforcer->commit(dns);
    const std::string before = withoutTimeouts(enforcer->render());

    Transaction t;
    t.installPolicy(policy("p0", 8443)); // replaced
    t.installPolicy(policy("p9", 22, "other.example.com")); // new
    t.setDevice(mac(1), Assignment::policy("p9")); // moved to the new policy
    t.setDevice(mac(2), Assignment::quarantine());
    t.removeDevice(mac(3));
    t.setDevice(mac(50), Assignment::policy("p1")); // joins
    t.setAddresses(mac(50), { ip4(0) }); // takes an address of device 0
    t.setClasses(mac(0), std::string("maker.example.com"), std::string("https://maker.example.com/m.json"));
    t.setClassPrefixes({ SetRef::Kind::LocalNetworks, "" }, { *Prefix::parse("192.168.0.0/16") });
    t.setDnsAddresses("cloud.example.com", { { ip4(902), seconds(600) } });
    t.removeDnsAddresses("cloud.example.com", { ip4(900) });
    Config c;
    c.denyAction = DenyAction::Reject;
    t.setConfig(c);

    Transaction undo = enforcer->undoOf(t);
    EXPECT_EQ(withoutTimeouts(enforcer->render()), before) << "computing the undo changed something";
    enforcer->commit(t);
    ASSERT_NE(withoutTimeouts(enforcer->render()), before);
    enforcer->commit(undo);
    EXPECT_EQ(withoutTimeouts(enforcer->render()), before);
    expectKernelEqualsDesired(*enforcer, *fake);
    EXPECT_FALSE(enforcer->device(mac(50)));
    EXPECT_EQ(enforcer->device(mac(2))->assignment, Assignment::policy("p0"));
    EXPECT_EQ(enforcer->device(mac(0))->addresses, (std::vector<IpAddress> { ip4(0), ip6(0) }));
    EXPECT_FALSE(enforcer->policy("p9"));
    EXPECT_EQ(enforcer->config().denyAction, DenyAction::Drop);
    auto names = enforcer->dnsAddresses("cloud.example.com");
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<IpAddress> { ip4(900), ip4(901) }));
}

TEST_F(Fixture, InvalidTransactionsChangeNothing)
{
    startWith(2);
    std::size_t batches = fake->batches.size();
    Transaction unknownPolicy;
    unknownPolicy.setDevice(mac(5), Assignment::policy("nope"));
    EXPECT_THROW(enforcer->commit(unknownPolicy), Error);
    Transaction unknownDevice;
    unknownDevice.setAddresses(mac(99), { ip4(99) });
    EXPECT_THROW(enforcer->commit(unknownDevice), Error);
    Transaction badPolicy;
    Rule r;
    r.name = "x/y";
    r.dstPort = PortSpec::eq(1);
    EXPECT_THROW(badPolicy.installPolicy(Policy { "bad", "", { r }, {} }), CompileError);
    EXPECT_EQ(fake->batches.size(), batches);
    EXPECT_FALSE(enforcer->device(mac(5)));
}

TEST_F(Fixture, DnsUpdateCostsTheSameForOneOrManyDevices)
{
    auto dnsBatch = [&](unsigned devices) {
        SetUp();
        startWith(devices);
        Transaction t;
        t.setDnsAddresses(
            "cloud.example.com", { { ip4(100), seconds(300) }, { ip4(101), seconds(300) }, { ip6(100), seconds(60) } });
        enforcer->commit(t);
        EXPECT_TRUE(elementsOnly(last()));
        expectKernelEqualsDesired(*enforcer, *fake);
        return last();
    };
    Batch one = dnsBatch(1), many = dnsBatch(1000);
    EXPECT_EQ(one.ops.size(), many.ops.size());
    EXPECT_EQ(one.elementCount(), many.elementCount());
}

TEST_F(Fixture, DnsRefreshReaddsAndExpiredAddressesLeaveTheState)
{
    startWith(1);
    Transaction t;
    t.setDnsAddresses("cloud.example.com", { { ip4(100), seconds(30) } });
    enforcer->commit(t);
    EXPECT_EQ(enforcer->dnsAddresses("cloud.example.com"), std::vector<IpAddress> { ip4(100) });
    // A refresh: add, delete, add with the new timeout, in both tables.
    now += seconds(10);
    Transaction refresh;
    refresh.setDnsAddresses("cloud.example.com", { { ip4(100), seconds(600) } });
    enforcer->commit(refresh);
    auto kinds = opKinds(last());
    EXPECT_EQ(kinds[Kind::AddElements], 4u);
    EXPECT_EQ(kinds[Kind::DeleteElements], 2u);
    for (const auto& op : last().ops) {
        if (op.kind == Kind::AddElements && op.elements.at(0).timeoutMs != 1000u) {
            EXPECT_EQ(op.elements.at(0).timeoutMs, 600000u);
        }
    }
    now += seconds(601);
    EXPECT_TRUE(enforcer->dnsAddresses("cloud.example.com").empty());
    // Withdrawal: robust against an element the kernel already expired (add then delete).
    Transaction gone;
    gone.removeDnsAddresses("cloud.example.com", { ip4(100) });
    enforcer->commit(gone);
    EXPECT_TRUE(elementsOnly(last()));
}

TEST_F(Fixture, ClassesAndPrefixes)
{
    Transaction t;
    Rule mfr;
    mfr.name = "a/mfr";
    mfr.dstSet = SetRef { SetRef::Kind::Manufacturer, "maker.example.com" };
    t.installPolicy(Policy { "m", "https://maker.example.com/x.json", { mfr }, {} });
    for (unsigned i = 0; i < 3; ++i) {
        t.setDevice(mac(i), Assignment::policy("m"));
        t.setAddresses(mac(i), { ip4(i) });
    }
    t.setClasses(mac(0), "maker.example.com", std::nullopt);
    t.setClasses(mac(1), "other.example.com", std::nullopt);
    enforcer->start(t);
    std::string mfrSet = names::classSet(*mfr.dstSet, ir::KeyType::Ipv4Addr);
    std::string mfrMac = names::classSet(*mfr.dstSet, ir::KeyType::EtherAddr);
    EXPECT_EQ(fake->table(ir::TableFamily::Inet)->elements.at(mfrSet), std::set { elementOf(ip4(0)) });
    EXPECT_EQ(fake->table(ir::TableFamily::Bridge)->elements.at(mfrMac), std::set { elementOf(mac(0)) });
    Transaction join;
    join.setClasses(mac(2), "maker.example.com", std::nullopt);
    enforcer->commit(join);
    EXPECT_TRUE(elementsOnly(last()));
    EXPECT_EQ(fake->table(ir::TableFamily::Inet)->elements.at(mfrSet).size(), 2u);
    expectKernelEqualsDesired(*enforcer, *fake);

    Transaction ctl;
    SetRef lan { SetRef::Kind::LocalNetworks, "" };
    ctl.setClassPrefixes(lan, { *Prefix::parse("192.168.0.0/16"), *Prefix::parse("192.168.1.0/24") });
    enforcer->commit(ctl); // not referenced by any policy: nothing to send
    EXPECT_EQ(fake->batches.size(), 2u);
}

TEST_F(Fixture, ReconcileRepairsForeignChangesAndRestoresDeletedTables)
{
    startWith(5);
    fake->addElementForeign(ir::TableFamily::Inet, "p_p0_mac", elementOf(mac(77)));
    EXPECT_TRUE(enforcer->handleEvents());
    EXPECT_EQ(opKinds(last())[Kind::DeleteElements], 1u);
    expectKernelEqualsDesired(*enforcer, *fake);

    fake->deleteTableForeign(ir::TableFamily::Inet);
    EXPECT_TRUE(enforcer->handleEvents());
    EXPECT_EQ(opKinds(last())[Kind::AddTable], 1u);
    expectKernelEqualsDesired(*enforcer, *fake);
    EXPECT_FALSE(enforcer->handleEvents());
}

TEST_F(Fixture, CommitAfterASilentTableDeletionRestoresAndRetries)
{
    startWith(3);
    fake->deleteTableForeign(ir::TableFamily::Inet, true);
    Transaction t;
    t.setDevice(mac(8), Assignment::policy("p0"));
    enforcer->commit(t);
    EXPECT_TRUE(enforcer->device(mac(8)));
    expectKernelEqualsDesired(*enforcer, *fake);
}

TEST_F(Fixture, RestartReconcilesAgainstTheExistingTablesWithoutRecreatingThem)
{
    startWith(20, 3);
    // A new enforcer over the same kernel, restored from the same saved state.
    auto state = std::make_unique<FakeApplier>(*fake);
    FakeApplier* kernel = state.get();
    kernel->batches.clear();
    Enforcer restarted(std::move(state), Config {}, [this] { return now; });
    Transaction saved;
    for (unsigned p = 0; p < 3; ++p)
        saved.installPolicy(policy("p" + std::to_string(p)));
    saved.setClassPrefixes({ SetRef::Kind::LocalNetworks, "" }, { *Prefix::parse("10.0.0.0/8") });
    for (unsigned i = 0; i < 20; ++i) {
        saved.setDevice(mac(i), Assignment::policy("p" + std::to_string(i % 3)));
        saved.setAddresses(mac(i), { ip4(i), ip6(i) });
    }
    saved.setDevice(mac(50), Assignment::policy("p1")); // one device joined while down
    auto stats = restarted.start(saved);
    ASSERT_EQ(kernel->batches.size(), 1u);
    EXPECT_TRUE(elementsOnly(kernel->batches[0])) << "no table, set or chain is recreated";
    EXPECT_EQ(stats.elements, 4u); // its MAC in the inet and bridge membership and managed sets
    expectKernelEqualsDesired(restarted, *kernel);
}

TEST_F(Fixture, PostureChangesAreOneBatch)
{
    startWith(3);
    Config c;
    c.denyAction = DenyAction::Reject;
    c.logGroup.reset();
    Transaction t;
    t.setConfig(c);
    enforcer->commit(t);
    EXPECT_TRUE(last().ops.size() > 0);
    EXPECT_EQ(enforcer->config(), c);
    expectKernelEqualsDesired(*enforcer, *fake);
    EXPECT_NE(enforcer->render().find("goto reject_from comment \"default deny\""), std::string::npos);
}

TEST_F(Fixture, QuarantineAndCounters)
{
    startWith(3);
    Transaction t;
    t.setDevice(mac(1), Assignment::quarantine());
    enforcer->commit(t);
    EXPECT_TRUE(elementsOnly(last()));
    expectKernelEqualsDesired(*enforcer, *fake);
    fake->ruleHits["from/cloud"] = Counter { 5, 500 };
    auto counters = enforcer->policyCounters("p0");
    ASSERT_FALSE(counters.empty());
    EXPECT_EQ(counters[0].ace, "from/cloud");
    // Summed over both tables and both address families (the rule names a DNS set: one rule
    // per family).
    EXPECT_EQ(counters[0].counter, (Counter { 20, 2000 }));
    auto dc = enforcer->deviceCounters(mac(0));
    EXPECT_EQ(dc.deniedFrom, Counter {});
}

TEST_F(Fixture, RenderDeviceShowsWhatAppliesToIt)
{
    startWith(3, 2);
    std::string text = enforcer->renderDevice(mac(1));
    EXPECT_NE(text.find("chain p_p1_from"), std::string::npos);
    EXPECT_EQ(text.find("chain p_p0_from"), std::string::npos);
    EXPECT_NE(text.find(mac(1).toString()), std::string::npos);
    EXPECT_EQ(text.find(mac(0).toString()), std::string::npos);
    EXPECT_NE(text.find("ether saddr @p_p1_mac goto p_p1_from"), std::string::npos);
    EXPECT_EQ(text.find("@p_p0_mac"), std::string::npos);
    EXPECT_NE(text.find("ether saddr != @managed_mac return"), std::string::npos);
    EXPECT_EQ(enforcer->renderDevice(mac(42)), "");
}

} // namespace
} // namespace mudguard::test
