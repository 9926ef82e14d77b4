// `mudguard validate` and `mudguard show`, run as the real program.
#include <csignal>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "TestSupport.h"

using mudguard::test::runCommand;

namespace {

std::string program() { return mudguard::test::mudguardProgram().string(); }
std::string example(const std::string& name) { return (mudguard::test::sourceDir() / "examples" / name).string(); }
std::string data(const std::string& path) { return (mudguard::test::sourceDir() / "tests/data/mud" / path).string(); }

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

} // namespace

TEST(ValidateCommand, ValidFilesExitZero)
{
    auto r = runCommand({ program(), "validate", example("lightbulb.json"), example("hub-ethernet.json") });
    EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, example("lightbulb.json") + ": valid (0 warnings)\n")) << r.out;
    EXPECT_TRUE(contains(r.out, example("hub-ethernet.json") + ": valid (0 warnings)\n")) << r.out;
    EXPECT_EQ(r.err, "");
}

TEST(ValidateCommand, AnInvalidFileExitsOneWithLocatedDiagnostics)
{
    std::string bad = data("invalid/cache-validity-480.json");
    auto r = runCommand({ program(), "validate", example("lightbulb.json"), bad });
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_TRUE(contains(r.out,
        bad
            + ":6:23: error: cache-validity 480 is out of range 1..168 hours [cache-validity-range] (at "
              "/ietf-mud:mud/cache-validity)\n"))
        << r.out;
    EXPECT_TRUE(contains(r.out, bad + ": invalid (1 error, 0 warnings)\n")) << r.out;
}

TEST(ValidateCommand, RefusesAValidFileThisRouterCannotEnforce)
{
    // Valid RFC 8519, but matching on the IPv4 identification field, which mudguard cannot
    // enforce: `mudguard compile` refuses it, so validate does too, naming the entry.
    std::string file = (mudguard::test::sourceDir() / "tests/data/enforcer/compile/unenforceable.json").string();
    auto r = runCommand({ program(), "validate", file });
    EXPECT_EQ(r.exitCode, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "warning: \"identification\" is a valid match that mudguard does not enforce"))
        << r.out;
    EXPECT_TRUE(contains(r.out,
        file
            + ": error: cannot enforce 'odd-from/by-id': unsupported match "
              "/ietf-access-control-list:acls/acl[name='odd-from']/aces/ace[name='by-id']/matches/ipv4/identification "
              "[unenforceable] (at /ietf-access-control-list:acls/acl[name='odd-from']/aces/ace[name='by-id'])\n"))
        << r.out;
    EXPECT_TRUE(contains(r.out, file + ": cannot be enforced on this router (1 error, 1 warning)\n")) << r.out;

    auto json = runCommand({ program(), "validate", "--format", "json", file });
    EXPECT_EQ(json.exitCode, 1);
    rapidjson::Document doc;
    doc.Parse(json.out.c_str());
    ASSERT_FALSE(doc.HasParseError()) << json.out;
    const auto& f = doc["files"][0];
    EXPECT_FALSE(f["valid"].GetBool());
    const auto& d = f["diagnostics"][f["diagnostics"].Size() - 1];
    EXPECT_STREQ(d["code"].GetString(), "unenforceable");
    EXPECT_STREQ(d["path"].GetString(), "/ietf-access-control-list:acls/acl[name='odd-from']/aces/ace[name='by-id']");
    EXPECT_TRUE(d["line"].IsNull());

    // A contradiction inside an entry is not a limit of this router: the file is invalid.
    auto conflict = runCommand({ program(), "validate", data("invalid/ethertype-arp-with-tcp-match.json") });
    EXPECT_EQ(conflict.exitCode, 1);
    EXPECT_TRUE(contains(conflict.out, "[ethertype-conflict]")) << conflict.out;
    EXPECT_TRUE(contains(conflict.out, ": invalid (1 error, 0 warnings)\n")) << conflict.out;
}

TEST(ValidateCommand, IoAndUsageErrorsExitTwo)
{
    auto missing = runCommand({ program(), "validate", "/nonexistent/mud.json", data("invalid/mud-missing.json") });
    EXPECT_EQ(missing.exitCode, 2);
    EXPECT_TRUE(contains(missing.err, "cannot open /nonexistent/mud.json")) << missing.err;
    EXPECT_TRUE(contains(missing.out, ": invalid")) << "the other file is still checked";

    EXPECT_EQ(runCommand({ program(), "validate" }).exitCode, 2) << "no file";
    EXPECT_EQ(runCommand({ program(), "validate", "--format", "xml", example("lightbulb.json") }).exitCode, 2);
    EXPECT_EQ(runCommand({ program(), "validate", "--bogus", example("lightbulb.json") }).exitCode, 2);
    EXPECT_EQ(runCommand({ program(), "validate", "-", "-" }, "{}").exitCode, 2) << "stdin twice";
    auto dir = runCommand({ program(), "validate", mudguard::test::sourceDir().string() });
    EXPECT_EQ(dir.exitCode, 2) << dir.out << dir.err;
}

TEST(ValidateCommand, ReadsStandardInput)
{
    std::string text = mudguard::test::readFile(data("invalid/mud-url-not-https.json"));
    auto r = runCommand({ program(), "validate", "-" }, text);
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_TRUE(
        contains(r.out, "-:4:16: error: mud-url \"http://things.example.com/mud/plug-p1\" must be an https URL"))
        << r.out;

    // mudguard stops reading past the size limit and exits; the rest of the input meets a
    // closed pipe, which must not kill the test.
    std::signal(SIGPIPE, SIG_IGN);
    std::string huge(1 << 21, ' ');
    auto big = runCommand({ program(), "validate", "-" }, huge);
    EXPECT_EQ(big.exitCode, 1);
    EXPECT_TRUE(contains(big.out, "[limit-size]")) << big.out;
}

TEST(ValidateCommand, LenientModeAcceptsLegacyForms)
{
    std::string legacy = data("warnings/lenient-legacy-forms.json");
    EXPECT_EQ(runCommand({ program(), "validate", legacy }).exitCode, 1);
    auto r = runCommand({ program(), "validate", "--lenient", legacy });
    EXPECT_EQ(r.exitCode, 0) << r.out;
    EXPECT_TRUE(contains(r.out, "warning: \"ietf-access-control-list:access-lists\" is the draft name")) << r.out;
    EXPECT_TRUE(contains(r.out, legacy + ": valid (10 warnings)")) << r.out;
}

TEST(ValidateCommand, JsonOutputForTools)
{
    std::string bad = data("invalid/several-errors.json");
    auto r = runCommand({ program(), "validate", "--format", "json", example("lightbulb.json"), bad });
    EXPECT_EQ(r.exitCode, 1);
    rapidjson::Document doc;
    doc.Parse(r.out.c_str());
    ASSERT_FALSE(doc.HasParseError()) << r.out;
    const auto& files = doc["files"];
    ASSERT_EQ(files.Size(), 2u);
    EXPECT_TRUE(files[0]["valid"].GetBool());
    EXPECT_EQ(files[0]["diagnostics"].Size(), 0u);
    EXPECT_FALSE(files[1]["valid"].GetBool());
    EXPECT_EQ(files[1]["errors"].GetUint(), 4u);
    const auto& d = files[1]["diagnostics"][1];
    EXPECT_STREQ(d["severity"].GetString(), "error");
    EXPECT_STREQ(d["code"].GetString(), "cache-validity-range");
    EXPECT_STREQ(d["path"].GetString(), "/ietf-mud:mud/cache-validity");
    EXPECT_EQ(d["line"].GetUint(), 6u);
    EXPECT_EQ(d["column"].GetUint(), 23u);
    EXPECT_STREQ(d["message"].GetString(), "cache-validity 500 is out of range 1..168 hours");
}

TEST(ShowCommand, SummarisesAFile)
{
    auto r = runCommand({ program(), "show", example("thermostat-classes.json") });
    EXPECT_EQ(r.exitCode, 0) << r.err;
    for (const char* part :
        { "MUD URL         https://climate.example.com/mud/thermostat-t7\n", "Maker           Example Climate\n",
            "Model           T7\n", "Documentation   https://climate.example.com/support/t7\n", "From the device\n",
            "To the device\n", "controller urn:ietf:params:mud:dns", "my controller",
            "devices of the same manufacturer", "devices of model https://climate.example.com/mud/bridge-b2",
            "devices of manufacturer energy.example.org", "local networks", "Protocols:  udp, tcp\n",
            "the peer opens the connection", "the device opens the connection", "Initiated:  by the device" })
        EXPECT_TRUE(contains(r.out, part)) << "missing \"" << part << "\" in\n" << r.out;

    auto cam = runCommand({ program(), "show", example("camera-ports.json") });
    EXPECT_EQ(cam.exitCode, 0);
    for (const char* part : { "reject tcp, to 203.0.113.0/24, port <=1023", "port 10000-20000", "port !=1900",
             "port >=8000", "drop any ipv4", "Peers:      198.51.100.0/24; upload.cameras.example.com" })
        EXPECT_TRUE(contains(cam.out, part)) << "missing \"" << part << "\" in\n" << cam.out;
}

TEST(ShowCommand, RefusesInvalidFilesAndReadsLegacyOnesWhenLenient)
{
    auto bad = runCommand({ program(), "show", data("invalid/port-out-of-range.json") });
    EXPECT_EQ(bad.exitCode, 1);
    EXPECT_EQ(bad.out, "");
    EXPECT_TRUE(contains(bad.err, "\"port\" value 70000 is out of range 0..65535")) << bad.err;

    std::string legacy = data("warnings/lenient-legacy-forms.json");
    EXPECT_EQ(runCommand({ program(), "show", legacy }).exitCode, 1);
    auto ok = runCommand({ program(), "show", "--lenient", legacy });
    EXPECT_EQ(ok.exitCode, 0) << ok.err;
    EXPECT_TRUE(contains(ok.out, "\nWarnings\n")) << ok.out;
    EXPECT_EQ(runCommand({ program(), "show", "/nonexistent.json" }).exitCode, 2);
}

TEST(Help, ExplainsTheCommandsAndOptions)
{
    auto top = runCommand({ program(), "--help" });
    EXPECT_EQ(top.exitCode, 0);
    EXPECT_TRUE(contains(top.out, "validate")) << top.out;
    EXPECT_TRUE(contains(top.out, "show")) << top.out;
    auto v = runCommand({ program(), "validate", "--help" });
    EXPECT_EQ(v.exitCode, 0);
    for (const char* part :
        { "--lenient", "--format", "Exit status: 0 every file is valid and can be enforced", "standard input" })
        EXPECT_TRUE(contains(v.out, part)) << part << " missing in\n" << v.out;
    auto s = runCommand({ program(), "show", "--help" });
    EXPECT_EQ(s.exitCode, 0);
    EXPECT_TRUE(contains(s.out, "who may open TCP")) << s.out;
}
