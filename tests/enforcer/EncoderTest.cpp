// The libnftnl encoder against the nft program: every golden case applied through netlink
// lists exactly as the renderer says, and its bytecode equals what nft makes of the rendered
// text. Reading the table back gives the same objects and rule fingerprints.

#include <sstream>

#include <gtest/gtest.h>

#include "mudguard/enforcer/Applier.h"
#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/NetlinkApplier.h"

#include "CaseSupport.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

using namespace mudguard::enforcer;

/// `nft --debug=netlink list table` with handles removed and set element dumps sorted.
std::string bytecode(const NftNetns& ns, const std::string& family)
{
    auto r = ns.run({ "nft", "--debug=netlink", "list", "table", family, "mudguard" });
    std::istringstream in(r.out);
    std::string line, out;
    std::vector<std::string> elements;
    auto flush = [&] {
        std::sort(elements.begin(), elements.end());
        for (const auto& e : elements)
            out += e + "\n";
        elements.clear();
    };
    // "inet mudguard p_x_from 7 6": the chain name followed by handles.
    auto stripHandles = [](std::string l) {
        if (l.rfind("inet mudguard ", 0) != 0 && l.rfind("bridge mudguard ", 0) != 0)
            return l;
        while (!l.empty() && (std::isdigit(static_cast<unsigned char>(l.back())) || l.back() == ' ')) {
            auto space = l.rfind(' ');
            if (space == std::string::npos || l.find_first_not_of("0123456789", space + 1) != std::string::npos)
                break;
            l.erase(space);
        }
        return l;
    };
    bool inTable = false;
    while (std::getline(in, line)) {
        if (line.rfind("table ", 0) == 0)
            inTable = true; // the listing after the bytecode
        if (inTable || line.empty())
            continue;
        if (line.find("\telement ") == 0) {
            elements.push_back(line);
            continue;
        }
        flush();
        out += stripHandles(line) + "\n";
    }
    flush();
    return out;
}

ElementMap elementsOf(const CompiledCase& c, const ir::Table& t)
{
    ElementMap m;
    for (const auto& [set, els] : c.elements)
        if (t.findSet(set))
            m[set] = els;
    return m;
}

class Encoder : public ::testing::TestWithParam<std::string> {
protected:
    static void SetUpTestSuite() { requireNetns(); }
};

TEST_P(Encoder, MatchesNftTextAndBytecode)
{
    auto c = compileCase(GetParam());
    if (c.input.features.bridgeReject)
        GTEST_SKIP() << "this kernel cannot reject in a bridge forward chain";
    NftNetns viaText("enctext"), viaNetlink("encnl");
    auto load = viaText.run({ "nft", "-f", "-" }, c.text());
    ASSERT_EQ(load.exitCode, 0) << load.err;

    std::unique_ptr<Applier> applier;
    {
        EnterNetns in(viaNetlink);
        applier = makeNetlinkApplier();
    }
    Batch b;
    b.createTable(c.layout.inet, elementsOf(c, c.layout.inet));
    b.createTable(c.layout.bridge, elementsOf(c, c.layout.bridge));
    ASSERT_NO_THROW(applier->apply(b));

    std::string listed = viaNetlink.listTable("inet") + viaNetlink.listTable("bridge");
    std::string diff = lineDiff(c.text(), listed);
    EXPECT_TRUE(diff.empty()) << "netlink listing differs from the renderer:\n" << diff;
    for (const char* family : { "inet", "bridge" }) {
        diff = lineDiff(bytecode(viaText, family), bytecode(viaNetlink, family));
        EXPECT_TRUE(diff.empty()) << family << " bytecode differs from nft's:\n" << diff;
    }

    // Reading back: the same sets and chains, and rule fingerprints equal to the encoder's.
    for (const ir::Table* t : { &c.layout.inet, &c.layout.bridge }) {
        auto k = applier->read(t->family);
        ASSERT_TRUE(k);
        ASSERT_EQ(k->sets.size(), t->sets.size());
        for (std::size_t i = 0; i < t->sets.size(); ++i)
            EXPECT_EQ(k->sets[i], t->sets[i]) << t->sets[i].name;
        ASSERT_EQ(k->chains.size(), t->chains.size());
        for (std::size_t i = 0; i < t->chains.size(); ++i) {
            EXPECT_EQ(k->chains[i].name, t->chains[i].name);
            EXPECT_EQ(k->chains[i].hook, t->chains[i].hook);
            EXPECT_EQ(k->chains[i].comment, t->chains[i].comment);
            ASSERT_EQ(k->chains[i].rules.size(), t->chains[i].rules.size()) << t->chains[i].name;
            for (std::size_t j = 0; j < t->chains[i].rules.size(); ++j)
                EXPECT_EQ(k->chains[i].rules[j], applier->fingerprint(t->family, t->chains[i].rules[j]));
        }
        for (const auto& [set, els] : elementsOf(c, *t)) {
            auto want = els;
            auto got = k->elements[set];
            for (auto& e : want)
                e.timeoutMs.reset();
            for (auto& e : got)
                e.timeoutMs.reset();
            std::sort(want.begin(), want.end());
            std::sort(got.begin(), got.end());
            EXPECT_EQ(got, want) << set;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Enforcer, Encoder, ::testing::ValuesIn(goldenCases()), caseTestName);

TEST(NetlinkApplier, FailingLastOperationAppliesNothing)
{
    requireNetns();
    NftNetns ns("atomic");
    EnterNetns in(ns);
    auto applier = makeNetlinkApplier();
    auto c = compileCase("basic");
    Batch b;
    b.createTable(c.layout.inet, {});
    b.deleteSet(ir::TableFamily::Inet, "no_such_set");
    try {
        applier->apply(b);
        FAIL() << "the batch was accepted";
    } catch (const ApplyError& e) {
        EXPECT_EQ(e.object(), "delete set inet mudguard no_such_set");
        EXPECT_EQ(e.errnum(), ENOENT);
    }
    EXPECT_FALSE(applier->read(ir::TableFamily::Inet));
    EXPECT_EQ(ns.listTable("inet"), "");
}

TEST(NetlinkApplier, ProbeChangesNothing)
{
    requireNetns();
    NftNetns ns("probe");
    EnterNetns in(ns);
    auto applier = makeNetlinkApplier();
    auto features = applier->probe();
    EXPECT_EQ(ns.run({ "nft", "list", "ruleset" }).out, "");
    // This kernel's configuration lacks bridge reject (CONFIG_NFT_BRIDGE_REJECT); the probe
    // must find that out rather than assume it.
    auto modules
        = runCommand({ "sh", "-c", "grep -c NFT_BRIDGE_REJECT=y /boot/config-$(uname -r) 2>/dev/null || true" });
    if (modules.out == "0\n") {
        EXPECT_FALSE(features.bridgeReject);
    }
}

} // namespace
} // namespace mudguard::test
