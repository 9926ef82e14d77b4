// Golden files of the compile step: tests/data/enforcer/<case>.in.json -> <case>.nft.
// Regenerate with MUDGUARD_REGEN_GOLDEN=1 and review the diff.

#include <cstdlib>

#include <gtest/gtest.h>

#include "CaseSupport.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

class Golden : public ::testing::TestWithParam<std::string> { };

TEST_P(Golden, RendersAsRecorded)
{
    auto c = compileCase(GetParam());
    std::string text = c.text();
    auto golden = enforcerDataDir() / (GetParam() + ".nft");
    if (std::getenv("MUDGUARD_REGEN_GOLDEN")) {
        writeFile(golden, text);
        GTEST_SKIP() << "regenerated " << golden;
    }
    ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " is missing; run with MUDGUARD_REGEN_GOLDEN=1";
    EXPECT_EQ(readFile(golden), text);
}

INSTANTIATE_TEST_SUITE_P(Enforcer, Golden, ::testing::ValuesIn(goldenCases()), caseTestName);

} // namespace
} // namespace mudguard::test
