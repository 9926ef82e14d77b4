// The daemon's configuration: the annotated example loads, the defaults in the code equal the
// YANG module's, and bad files get located diagnostics.
#include "mudguard/controller/DaemonConfig.h"

#include <gtest/gtest.h>

#include "mudguard/mudparser/Parser.h"

#include "TestSupport.h"

namespace mudguard::controller {
namespace {

std::filesystem::path schemas() { return test::sourceDir() / "schemas"; }

LoadedConfig parse(const std::string& text) { return parseDaemonConfig(text, "test.json", schemas()); }

const mudparser::Diagnostic* findCode(const mudparser::Report& r, const std::string& code)
{
    for (const auto& d : r.diagnostics)
        if (d.code == code)
            return &d;
    return nullptr;
}

TEST(DaemonConfig, AnnotatedExampleLoads)
{
    // The example names files under /etc/mudguard; they are made in a scratch directory.
    std::string text = test::readFile(test::sourceDir() / "examples" / "mudguard.json");
    test::TempDir dir;
    const std::string etc = "/etc/mudguard/";
    for (auto pos = text.find(etc); pos != std::string::npos; pos = text.find(etc, pos)) {
        auto end = text.find('"', pos);
        auto file = dir.path() / text.substr(pos + etc.size(), end - pos - etc.size());
        std::filesystem::create_directories(file.parent_path());
        test::writeFile(file, "{}");
        text.replace(pos, etc.size(), dir.path().string() + "/");
        pos += dir.path().string().size();
    }
    auto loaded = parse(text);
    for (const auto& d : loaded.report.diagnostics)
        ADD_FAILURE() << mudparser::formatText(d);
    ASSERT_TRUE(loaded.config);
    EXPECT_FALSE(loaded.config->lanInterfaces.empty());
    EXPECT_FALSE(loaded.config->api.tokens.empty());
    EXPECT_FALSE(loaded.config->devices.empty());
}

TEST(DaemonConfig, DefaultsEqualTheModule)
{
    // Everything left out but what has no default (the LAN) and what the checks need together (a
    // signature requirement of "require" needs a trust anchor).
    auto loaded = parse(
        R"({ "mudguard-config:mudguard": { "lan": { "interface": ["br-lan"] }, "trust": { "signature": "off" } } })");
    for (const auto& d : loaded.report.diagnostics)
        ADD_FAILURE() << mudparser::formatText(d);
    ASSERT_TRUE(loaded.config);
    DaemonConfig expected;
    expected.lanInterfaces = { "br-lan" };
    expected.trust.signature = "off";
    EXPECT_EQ(*loaded.config, expected);
}

TEST(DaemonConfig, CommentsKeepLinesTrue)
{
    auto loaded = parse("// a comment\n{ /* block\n comment */ \"mudguard-config:mudguard\": {\n"
                        "  \"lan\": { \"interface\": [\"br-lan\"] },\n"
                        "  \"state-directory\": 42\n} }\n");
    ASSERT_FALSE(loaded.config);
    ASSERT_FALSE(loaded.report.diagnostics.empty());
    const auto& d = loaded.report.diagnostics.front();
    EXPECT_EQ(d.file, "test.json");
    EXPECT_EQ(d.line.value_or(0), 5u) << mudparser::formatText(d);
    EXPECT_NE(d.path.find("state-directory"), std::string::npos) << d.path;
}

TEST(DaemonConfig, MissingLanIsAnError)
{
    auto loaded = parse(R"({ "mudguard-config:mudguard": { } })");
    EXPECT_FALSE(loaded.config);
    EXPECT_TRUE(loaded.report.hasErrors());
}

TEST(DaemonConfig, DuplicateTokenHashesAreRefused)
{
    const std::string hash(64, 'a');
    auto loaded = parse(R"({ "mudguard-config:mudguard": { "lan": { "interface": ["br-lan"] },
        "api": { "token": [ { "name": "a", "sha256": ")"
        + hash + R"(", "role": "auditor" }, { "name": "b", "sha256": ")" + hash + R"(", "role": "admin" } ] } } })");
    EXPECT_FALSE(loaded.config);
    EXPECT_NE(findCode(loaded.report, "config-token-duplicate"), nullptr);
}

TEST(DaemonConfig, UnreadableFileIsAnIoError)
{
    auto loaded = loadDaemonConfig("/nonexistent/mudguard.json", schemas());
    EXPECT_FALSE(loaded.config);
    EXPECT_NE(findCode(loaded.report, "config-io"), nullptr);
}

TEST(DaemonConfig, MalformedJsonHasALine)
{
    auto loaded = parse("{ \"mudguard-config:mudguard\": {\n  \"lan\": \n}");
    EXPECT_FALSE(loaded.config);
    ASSERT_FALSE(loaded.report.diagnostics.empty());
    EXPECT_GE(loaded.report.diagnostics.front().line.value_or(0), 2u);
}

} // namespace
} // namespace mudguard::controller
