// The renderer's text against the real nft program and kernel: every golden case loads with
// `nft -f` into an empty namespace, and `nft -s list table` prints exactly the rendered text.

#include <gtest/gtest.h>

#include "CaseSupport.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

class NftText : public ::testing::TestWithParam<std::string> {
protected:
    static void SetUpTestSuite() { requireNetns(); }
};

TEST_P(NftText, LoadsAndListsAsRendered)
{
    auto c = compileCase(GetParam());
    if (c.input.features.bridgeReject)
        GTEST_SKIP() << "this kernel cannot reject in a bridge forward chain";
    NftNetns ns("nfttext");
    auto load = ns.run({ "nft", "-f", "-" }, c.text());
    ASSERT_EQ(load.exitCode, 0) << load.err;
    std::string listed = ns.listTable("inet") + ns.listTable("bridge");
    std::string diff = lineDiff(normalizeListing(c.text(), false), normalizeListing(listed, false));
    EXPECT_TRUE(diff.empty()) << diff;
    // Object order too: a fresh load keeps the rendered order.
    diff = lineDiff(c.text(), listed);
    EXPECT_TRUE(diff.empty()) << diff;
}

INSTANTIATE_TEST_SUITE_P(Enforcer, NftText, ::testing::ValuesIn(goldenCases()), caseTestName);

} // namespace
} // namespace mudguard::test
