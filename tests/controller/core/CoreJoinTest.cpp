// Joins, verdicts, addresses and leaves: what the core decides, and that the kernel, the store and
// memory agree after each step.

#include <gtest/gtest.h>

#include "CoreFixture.h"

namespace mudguard::controller::test {
namespace {

using namespace std::chrono_literals;
using enforcer::Assignment;

const std::string kBulb = "https://lighting.example.com/bulb.json";

TEST_F(CoreTest, JoinThatNeedsAFetch)
{
    start();
    ASSERT_TRUE(join(1, kBulb));
    EXPECT_EQ(stateOf(1), DeviceState::Fetching);
    EXPECT_EQ(kernelAssignment(1), Assignment::pending());
    EXPECT_TRUE(fetched(kBulb));
    EXPECT_TRUE(agree());
    ASSERT_TRUE(verdict(accepted(kBulb)));
    EXPECT_EQ(stateOf(1), DeviceState::Enforced);
    EXPECT_EQ(kernelAssignment(1), Assignment::policy(policyIdOf(kBulb)));
    EXPECT_TRUE(agree());
}

} // namespace
} // namespace mudguard::controller::test
