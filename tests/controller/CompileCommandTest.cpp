// `mudguard compile`: golden output for the project's examples, the JSON form, and the exit
// codes and messages of refusals.

#include <cstdlib>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "TestSupport.h"

namespace mudguard::test {
namespace {

std::filesystem::path compileData() { return sourceDir() / "tests" / "data" / "enforcer" / "compile"; }

std::vector<std::string> examples()
{
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(sourceDir() / "examples"))
        if (e.path().extension() == ".json" && e.path().filename() != "mudguard.json")
            out.push_back(e.path().stem().string());
    std::sort(out.begin(), out.end());
    return out;
}

CommandResult compile(const std::vector<std::string>& args)
{
    std::vector<std::string> argv { mudguardProgram().string(), "compile" };
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv);
}

class CompileExample : public ::testing::TestWithParam<std::string> { };

TEST_P(CompileExample, MatchesGolden)
{
    auto file = (sourceDir() / "examples" / (GetParam() + ".json")).string();
    auto r = compile({ "--context", (compileData() / "context.json").string(), file });
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto golden = compileData() / (GetParam() + ".nft");
    if (std::getenv("MUDGUARD_REGEN_GOLDEN")) {
        writeFile(golden, r.out);
        GTEST_SKIP() << "regenerated " << golden;
    }
    ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " is missing; run with MUDGUARD_REGEN_GOLDEN=1";
    EXPECT_EQ(readFile(golden), r.out);
}

std::string exampleName(const ::testing::TestParamInfo<std::string>& p)
{
    std::string n = p.param;
    for (auto& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c)))
            c = '_';
    return n;
}

INSTANTIATE_TEST_SUITE_P(Examples, CompileExample, ::testing::ValuesIn(examples()), exampleName);

TEST(Compile, WithoutContextUsesDefaults)
{
    auto r = compile({ (sourceDir() / "examples" / "thermostat-classes.json").string() });
    ASSERT_EQ(r.exitCode, 0) << r.err;
    // RFC 1918, ULA and link-local prefixes stand for local-networks.
    EXPECT_NE(r.out.find("192.168.0.0/16"), std::string::npos);
    EXPECT_NE(r.out.find("table bridge mudguard"), std::string::npos);
}

TEST(Compile, JsonFormat)
{
    auto r = compile({ "--format", "json", "--context", (compileData() / "context.json").string(),
        (sourceDir() / "examples" / "lightbulb.json").string() });
    ASSERT_EQ(r.exitCode, 0) << r.err;
    rapidjson::Document doc;
    doc.Parse(r.out.c_str());
    ASSERT_FALSE(doc.HasParseError());
    ASSERT_TRUE(doc.IsObject());
    EXPECT_STREQ(doc["policy"]["source"].GetString(), "https://lighting.example.com/lightbulb2000");
    ASSERT_EQ(doc["tables"].Size(), 2u);
    EXPECT_STREQ(doc["tables"][0]["family"].GetString(), "inet");
    bool dnsElements = false;
    for (const auto& s : doc["tables"][0]["sets"].GetArray())
        if (std::string(s["name"].GetString()).rfind("dns_", 0) == 0 && s["elements"].Size() > 0)
            dnsElements = true;
    EXPECT_TRUE(dnsElements) << "the context's DNS addresses";
}

TEST(Compile, Refusals)
{
    auto unenforceable = compile({ (compileData() / "unenforceable.json").string() });
    EXPECT_EQ(unenforceable.exitCode, 1);
    EXPECT_NE(unenforceable.err.find("cannot enforce 'odd-from/by-id'"), std::string::npos) << unenforceable.err;
    EXPECT_NE(unenforceable.err.find("[unenforceable]"), std::string::npos);
    EXPECT_EQ(unenforceable.out, "");

    TempDir dir;
    writeFile(dir.path() / "broken.json", "{\"ietf-mud:mud\": ");
    auto invalid = compile({ (dir.path() / "broken.json").string() });
    EXPECT_EQ(invalid.exitCode, 1);
    EXPECT_NE(invalid.err.find("broken.json"), std::string::npos) << invalid.err;

    writeFile(dir.path() / "context.json", "{\"router\": [\"not an address\"]}");
    auto badContext = compile({ "--context", (dir.path() / "context.json").string(),
        (sourceDir() / "examples" / "lightbulb.json").string() });
    EXPECT_EQ(badContext.exitCode, 2);
    EXPECT_NE(badContext.err.find("/router"), std::string::npos) << badContext.err;

    auto missing = compile({ (dir.path() / "absent.json").string() });
    EXPECT_EQ(missing.exitCode, 2);
    auto usage = compile({ "--format", "yaml", (sourceDir() / "examples" / "lightbulb.json").string() });
    EXPECT_EQ(usage.exitCode, 2);
}

} // namespace
} // namespace mudguard::test
