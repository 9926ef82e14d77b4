// The client commands (`mudguard devices`, `device`, `policies`, `events`, `token`), run as the
// real program against the API server with a fake backend.
#include <cstdlib>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "ApiTestSupport.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> linesOf(const std::string& s)
{
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (std::size_t nl; (nl = s.find('\n', pos)) != std::string::npos; pos = nl + 1)
        out.push_back(s.substr(pos, nl - pos));
    return out;
}

class ApiCliTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ::unsetenv("MUDGUARD_TOKEN");
        writeFile(auditorFile, std::string(kAuditorToken) + "\n");
        writeFile(adminFile, kAdminToken);
        writeFile(wrongFile, "mg_wrong\n");
        for (const auto& f : { auditorFile, adminFile, wrongFile })
            ::chmod(f.c_str(), 0600);
    }
    void TearDown() override { ::unsetenv("MUDGUARD_TOKEN"); }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(api.server->port()); }

    /// `mudguard ARGS --api URL --token-file FILE`
    CommandResult run(std::vector<std::string> args, const std::filesystem::path& token)
    {
        std::vector<std::string> argv = { mudguardProgram().string() };
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), { "--api", url() });
        if (!token.empty())
            argv.insert(argv.end(), { "--token-file", token.string() });
        return runCommand(argv);
    }

    ApiUnderTest api;
    TempDir dir { "mudguard-api-cli" };
    std::filesystem::path auditorFile = dir.path() / "auditor.token";
    std::filesystem::path adminFile = dir.path() / "admin.token";
    std::filesystem::path wrongFile = dir.path() / "wrong.token";
};

TEST_F(ApiCliTest, DevicesPrintsAnAlignedTable)
{
    auto r = run({ "devices" }, auditorFile);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.err, "");
    auto lines = linesOf(r.out);
    ASSERT_EQ(lines.size(), 4u) << r.out;
    EXPECT_EQ(lines[0].rfind("MAC                STATE     SINCE                SOURCE  POLICY  ADDRESSES", 0), 0u)
        << lines[0];
    EXPECT_EQ(
        lines[1].rfind("02:00:00:00:00:01  enforced  2023-11-14 22:13:21  dhcp    p1      192.0.2.10,2001:db8::10", 0),
        0u)
        << lines[1];
    EXPECT_TRUE(contains(lines[1], "https://mud.example.com/lamp.json"));
    EXPECT_TRUE(contains(lines[2], "failed"));
    EXPECT_TRUE(contains(lines[2], "signature did not verify"));
    // Every row's MUD URL starts in the same column as its header.
    auto column = lines[0].find("MUD URL");
    EXPECT_EQ(lines[1].find("https://"), column);
    EXPECT_EQ(lines[2].find("https://"), column);
    EXPECT_EQ(lines[3], "2 devices (1 enforced, 1 failed)");
}

TEST_F(ApiCliTest, JsonOutputIsTheApiAnswer)
{
    for (const auto& cmd : std::vector<std::vector<std::string>> { { "devices", "--json" }, { "policies", "--json" },
             { "events", "--json" }, { "device", "02:00:00:00:00:01", "--json" } }) {
        auto r = run(cmd, auditorFile);
        ASSERT_EQ(r.exitCode, 0) << cmd[0] << r.err;
        auto d = parseJson(r.out);
        ASSERT_TRUE(d.IsObject()) << cmd[0] << ": " << r.out;
    }
    auto d = parseJson(run({ "devices", "--json" }, auditorFile).out);
    EXPECT_EQ(d["count"].GetUint(), 2u);
}

TEST_F(ApiCliTest, DeviceShowsEverySection)
{
    auto r = run({ "device", "02-00-00-00-00-01" }, auditorFile);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    for (const char* part :
        { "Device 02:00:00:00:00:01\n", "  state               enforced since 2023-11-14 22:13:21\n",
            "  addresses           192.0.2.10, 2001:db8::10\n", "\nMUD file\n", "  manufacturer        Example\n",
            "  SBOM                https://mud.example.com/sbom.json\n", "\nSignature\n",
            "  status              verified\n", "  chain               CN=Example MUD signer <- CN=Example CA\n",
            "\nPolicy\n  may connect to www.example.com on tcp port 443\n", "\nCounters\n", "cl0-frdev",
            "  blocked             3 packets, 180 bytes\n", "\nRecent violations\n", "198.51.100.7",
            "\nnft rules in force\n  chain pol_p1_from {\n", "tcp dport 443 accept", "\nHistory\n" })
        EXPECT_TRUE(contains(r.out, part)) << "missing: " << part << "\n" << r.out;
}

TEST_F(ApiCliTest, UnknownAndMalformedMacs)
{
    auto r = run({ "device", "02:00:00:00:00:99" }, auditorFile);
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_TRUE(contains(r.err, "mudguard: no device with MAC 02:00:00:00:00:99 (404 not-found)")) << r.err;
    r = run({ "device", "not-a-mac" }, auditorFile);
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_TRUE(contains(r.err, "\"not-a-mac\" is not a MAC address")) << r.err;
    EXPECT_EQ(api.backend.callCount(), 1u) << "the malformed MAC never left the client";
}

TEST_F(ApiCliTest, PoliciesTable)
{
    auto r = run({ "policies" }, auditorFile);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto lines = linesOf(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    EXPECT_EQ(lines[0].rfind("ID  SOURCE   SIGNATURE  SIGNER", 0), 0u) << lines[0];
    EXPECT_EQ(lines[1].rfind("p1  fetched  verified   CN=Example MUD signer", 0), 0u) << lines[1];
    EXPECT_EQ(lines[2], "1 policy");
}

TEST_F(ApiCliTest, EventsPagesAndFilters)
{
    auto r = run({ "events", "--since", "1", "--limit", "2", "--device", "02:00:00:00:00:01" }, auditorFile);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto q = api.backend.lastQuery();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->since, 1);
    EXPECT_EQ(q->limit, 2u);
    EXPECT_EQ(q->device, "02:00:00:00:00:01");
    auto lines = linesOf(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    EXPECT_EQ(lines[0].rfind("SEQ  TIME                 EVENT           MAC", 0), 0u) << lines[0];
    EXPECT_EQ(lines[1].rfind("3    2023-11-14 22:13:20  POLICY_APPLIED  02:00:00:00:00:01", 0), 0u) << lines[1];

    r = run({ "events", "--limit", "2" }, auditorFile);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "\nmore: mudguard events --since 2\n")) << r.out;
    r = run({ "events", "--since", "5" }, auditorFile);
    EXPECT_TRUE(contains(r.out, "no events")) << r.out;

    EXPECT_EQ(run({ "events", "--limit", "0" }, auditorFile).exitCode, 2);
    EXPECT_EQ(run({ "events", "--device", "x" }, auditorFile).exitCode, 2);
}

TEST_F(ApiCliTest, UnreachableDaemonAndRefusedTokens)
{
    auto r = runCommand(
        { mudguardProgram().string(), "devices", "--api", "http://127.0.0.1:1", "--token-file", auditorFile.string() });
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_TRUE(contains(r.err, "cannot reach the mudguard API at http://127.0.0.1:1")) << r.err;

    r = run({ "devices" }, wrongFile);
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_TRUE(contains(r.err, "the API refused the token (unauthorized)")) << r.err;
    EXPECT_FALSE(contains(r.err, "mg_wrong")) << "the token is never echoed";

    r = run({ "devices" }, "");
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_TRUE(contains(r.err, "no API token: give --token-file FILE or set MUDGUARD_TOKEN")) << r.err;

    r = run({ "devices" }, dir.path() / "missing.token");
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_TRUE(contains(r.err, "cannot read the token file")) << r.err;

    r = runCommand({ mudguardProgram().string(), "devices", "--api", "ftp://x", "--token-file", auditorFile.string() });
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_TRUE(contains(r.err, "--api must be an http:// or https:// URL")) << r.err;

    // A token on the command line is not an option at all.
    r = run({ "devices", "--token", kAuditorToken }, auditorFile);
    EXPECT_EQ(r.exitCode, 2);
}

TEST_F(ApiCliTest, TokenFromTheEnvironmentAndLooseFileModes)
{
    ::setenv("MUDGUARD_TOKEN", kAuditorToken, 1);
    auto r = run({ "policies" }, "");
    EXPECT_EQ(r.exitCode, 0) << r.err;
    ::unsetenv("MUDGUARD_TOKEN");

    ::chmod(auditorFile.c_str(), 0644);
    r = run({ "policies" }, auditorFile);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(contains(r.err, "is accessible to other users (mode 0644); chmod 600 it")) << r.err;
}

TEST_F(ApiCliTest, TerminalEscapesFromTheNetworkAreNeutralised)
{
    api.backend.deviceList[1].reason = "evil\x1b]0;owned\x07\x1b[2J\xc2\x9b"
                                       "31m text";
    auto r = run({ "devices" }, auditorFile);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\x07'), std::string::npos);
    EXPECT_EQ(r.out.find("\xc2\x9b"), std::string::npos) << "C1 controls too";
    EXPECT_TRUE(contains(r.out, "evil?]0;owned??[2J??31m text")) << r.out;
}

TEST(TokenCommand, PrintsATokenAndItsConfigurationEntry)
{
    auto r = runCommand({ mudguardProgram().string(), "token", "--name", "netops", "--role", "admin" });
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto start = r.out.find("\n\n  mg_");
    ASSERT_NE(start, std::string::npos) << r.out;
    std::string token = r.out.substr(start + 4, r.out.find('\n', start + 4) - start - 4);
    EXPECT_EQ(token.size(), 3u + 43u) << "mg_ and 32 bytes in base64url";
    EXPECT_TRUE(contains(
        r.out, "{ \"name\": \"netops\", \"sha256\": \"" + apiTokenSha256Hex(token) + "\", \"role\": \"admin\" }"))
        << r.out;

    auto again = runCommand({ mudguardProgram().string(), "token", "--name", "netops", "--role", "admin", "--json" });
    ASSERT_EQ(again.exitCode, 0);
    auto d = parseJson(again.out);
    ASSERT_TRUE(d.IsObject()) << again.out;
    EXPECT_NE(std::string(d["token"].GetString()), token) << "every token is new";
    EXPECT_EQ(std::string(d["sha256"].GetString()), apiTokenSha256Hex(d["token"].GetString()));

    EXPECT_EQ(runCommand({ mudguardProgram().string(), "token", "--name", "netops", "--role", "root" }).exitCode, 2);
    EXPECT_EQ(
        runCommand({ mudguardProgram().string(), "token", "--name", "bad name", "--role", "auditor" }).exitCode, 2);
    EXPECT_EQ(runCommand({ mudguardProgram().string(), "token", "--role", "auditor" }).exitCode, 2);
}

TEST(TokenCommand, WritesTheTokenToANewPrivateFile)
{
    TempDir dir("mudguard-token");
    auto file = dir.path() / "audit.token";
    auto r = runCommand(
        { mudguardProgram().string(), "token", "--name", "audit", "--role", "auditor", "--out", file.string() });
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_FALSE(contains(r.out, "mg_")) << "the token goes to the file only";
    std::string token = readFile(file);
    ASSERT_EQ(token.back(), '\n');
    token.pop_back();
    EXPECT_TRUE(contains(r.out, apiTokenSha256Hex(token))) << r.out;
    struct stat st { };
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    r = runCommand(
        { mudguardProgram().string(), "token", "--name", "audit", "--role", "auditor", "--out", file.string() });
    EXPECT_EQ(r.exitCode, 2) << "an existing file is never overwritten";
    EXPECT_EQ(readFile(file), token + "\n");
}

} // namespace
} // namespace mudguard::test
