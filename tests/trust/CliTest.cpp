// Component tests of the trust commands through the built program: fetch, verify, sign and
// validate --signature, with the test PKI, a local TLS server and the real corpus.

#include <gtest/gtest.h>

#include "mudguard/Config.h"

#include "TrustTestSupport.h"

using namespace mudguard::test;

namespace {

CommandResult runMudguard(std::vector<std::string> args)
{
    args.insert(args.begin(), mudguardProgram().string());
    return runCommand(args);
}

std::string corpus(const std::string& rel) { return (corpusDir() / "mud" / rel).string(); }

const std::string kLuminaire = "ciscodevnet-mud-manager/examples/luminaire/";

} // namespace

TEST(VerifyCommand, CiscoLuminaire)
{
    auto args = std::vector<std::string> { "verify", "--signature", corpus(kLuminaire + "fs/Luminaire_150.p7s"),
        "--trust-anchor", corpus(kLuminaire + "luminaire-cacert.pem") };
    auto then = args;
    then.insert(then.end(), { "--at", "2019-01-01T00:00:00Z", corpus(kLuminaire + "fs/Luminaire_150.json") });
    auto ok = runMudguard(then);
    EXPECT_EQ(ok.exitCode, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("valid signature by \"O=Demo Luminaire Manufacturer, CN=luminaire.example.com\""),
        std::string::npos)
        << ok.out;

    args.push_back(corpus(kLuminaire + "fs/Luminaire_150.json"));
    auto today = runMudguard(args);
    EXPECT_EQ(today.exitCode, 1);
    EXPECT_NE(today.out.find("certificate has expired: valid from 2018-07-12T20:54:35Z to 2019-07-12T20:54:35Z"),
        std::string::npos)
        << today.out;
    EXPECT_NE(today.out.find("[signature-expired]"), std::string::npos);
}

TEST(VerifyCommand, MismatchAndUsageErrors)
{
    auto dir = corpus("osmud-fork-stef-a99/src/tmp/osmud/mudfiles/");
    auto mismatch = runMudguard({ "verify", "--signature", dir + "pi4.p7s", "--trust-anchor",
        TestPki::get().file("root.pem").string(), dir + "pi4.json" });
    EXPECT_EQ(mismatch.exitCode, 1);
    EXPECT_NE(mismatch.out.find("[signature-content-mismatch]"), std::string::npos) << mismatch.out;

    auto badTime = runMudguard({ "verify", "--signature", dir + "pi4.p7s", "--at", "yesterday", dir + "pi4.json" });
    EXPECT_EQ(badTime.exitCode, 2);
    EXPECT_NE(badTime.err.find("is not an RFC 3339 time"), std::string::npos);
    auto noSig = runMudguard({ "verify", "--signature", "/nonexistent.p7s", dir + "pi4.json" });
    EXPECT_EQ(noSig.exitCode, 2);
    EXPECT_EQ(runMudguard({ "verify", dir + "pi4.json" }).exitCode, 2);
}

TEST(SignCommand, InteroperatesWithOpensslCmsBothWays)
{
    const auto& pki = TestPki::get();
    TempDir work("mudguard-cli");
    auto file = work.path() / "dev.json";
    auto content = sampleMud("https://mud.example.com/dev", "dev.p7s");
    writeFile(file, content);

    auto signed_ = runMudguard({ "sign", "--key", pki.file("signer.key").string(), "--cert",
        pki.file("signer.pem").string(), "--chain", pki.file("signer-chain.pem").string(), file.string() });
    ASSERT_EQ(signed_.exitCode, 0) << signed_.err;
    auto sig = work.path() / "dev.p7s"; // the default name
    ASSERT_TRUE(std::filesystem::exists(sig));
    EXPECT_NE(signed_.err.find("signed by \"O=Example Maker, CN=Example Maker MUD signer\""), std::string::npos);

    auto opensslVerify
        = runCommand({ mudguard::config::kOpensslProgram, "cms", "-verify", "-binary", "-inform", "DER", "-in",
            sig.string(), "-content", file.string(), "-CAfile", pki.file("root.pem").string(), "-out", "/dev/null" });
    EXPECT_EQ(opensslVerify.exitCode, 0) << opensslVerify.err;

    auto ours = runMudguard(
        { "verify", "--signature", sig.string(), "--trust-anchor", pki.file("root.pem").string(), file.string() });
    EXPECT_EQ(ours.exitCode, 0) << ours.out;

    // The other direction: openssl signs, mudguard verifies.
    auto theirs = work.path() / "openssl.p7s";
    writeFile(theirs, opensslSign(content, "signer"));
    auto verified = runMudguard(
        { "verify", "--signature", theirs.string(), "--trust-anchor", pki.file("root.pem").string(), file.string() });
    EXPECT_EQ(verified.exitCode, 0) << verified.out;

    // -o and refusals.
    auto out = work.path() / "explicit.der";
    EXPECT_EQ(runMudguard({ "sign", "--key", pki.file("signer.key").string(), "--cert", pki.file("signer.pem").string(),
                              "-o", out.string(), file.string() })
                  .exitCode,
        0);
    EXPECT_TRUE(std::filesystem::exists(out));
    auto noDs = runMudguard({ "sign", "--key", pki.file("signer-nods.key").string(), "--cert",
        pki.file("signer-nods.pem").string(), file.string() });
    EXPECT_EQ(noDs.exitCode, 2);
    EXPECT_NE(noDs.err.find("does not allow digitalSignature"), std::string::npos) << noDs.err;
}

TEST(ValidateCommand, ChecksTheSignatureInTheSameStep)
{
    const auto& pki = TestPki::get();
    TempDir work("mudguard-cli");
    auto file = work.path() / "dev.json";
    auto content = sampleMud("https://mud.example.com/dev", "dev.p7s");
    writeFile(file, content);
    writeFile(work.path() / "dev.p7s", opensslSign(content, "signer"));
    auto ok = runMudguard({ "validate", "--signature", (work.path() / "dev.p7s").string(), "--trust-anchor",
        pki.file("root.pem").string(), file.string() });
    EXPECT_EQ(ok.exitCode, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("[signature-valid]"), std::string::npos) << ok.out;

    writeFile(file, content + "\n");
    auto changed = runMudguard({ "validate", "--signature", (work.path() / "dev.p7s").string(), "--trust-anchor",
        pki.file("root.pem").string(), file.string() });
    EXPECT_EQ(changed.exitCode, 1);
    EXPECT_NE(changed.out.find("[signature-content-mismatch]"), std::string::npos) << changed.out;
}

TEST(FetchCommand, FetchesVerifiesAndSummarises)
{
    const auto& pki = TestPki::get();
    TlsTestServer server(pki.file("server-chain.pem"), pki.file("server.key"));
    auto url = server.url("localhost", "/dev");
    auto body = sampleMud(url, "dev.p7s");
    server.serve("/dev", body);
    server.serve("/dev.p7s", opensslSign(body, "signer"), "application/pkcs7-signature");
    TempDir state("mudguard-cli-state");
    std::vector<std::string> args { "fetch", "--trust-anchor", pki.file("root.pem").string(), "--ca-file",
        pki.file("root.pem").string(), "--state-dir", state.path().string() };

    // Refused by default: the server is on loopback. No connection is made.
    auto refused = runMudguard([&] {
        auto a = args;
        a.push_back(url);
        return a;
    }());
    EXPECT_EQ(refused.exitCode, 1);
    EXPECT_NE(refused.out.find("[fetch-forbidden-address]"), std::string::npos) << refused.out;
    EXPECT_EQ(server.accepted(), 0u);

    args.push_back("--allow-private");
    args.push_back(url);
    auto ok = runMudguard(args);
    ASSERT_EQ(ok.exitCode, 0) << ok.out << ok.err;
    EXPECT_NE(
        ok.out.find("accepted (network, signed by \"O=Example Maker, CN=Example Maker MUD signer\""), std::string::npos)
        << ok.out;
    EXPECT_NE(ok.out.find("Maker           Example Maker"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("cloud.example.com"), std::string::npos) << ok.out;

    // The state directory now answers from the cache.
    auto cached = runMudguard(args);
    EXPECT_EQ(cached.exitCode, 0);
    EXPECT_NE(cached.out.find("accepted (cache"), std::string::npos) << cached.out;
    EXPECT_EQ(server.requestCount("/dev"), 1u);
    EXPECT_TRUE(std::filesystem::exists(state.path() / "signers.json"));

    // Unsigned with --signature off and prefer; refused with require.
    server.serve("/unsigned", sampleMud(server.url("localhost", "/unsigned")));
    auto common = std::vector<std::string> { "fetch", "--ca-file", pki.file("root.pem").string(), "--allow-private" };
    auto with = [&](const std::string& mode) {
        auto a = common;
        a.insert(a.end(), { "--signature", mode, server.url("localhost", "/unsigned") });
        return runMudguard(a);
    };
    EXPECT_EQ(with("off").exitCode, 0);
    auto prefer = with("prefer");
    EXPECT_EQ(prefer.exitCode, 0);
    EXPECT_NE(prefer.err.find("[signature-missing]"), std::string::npos) << prefer.err;
    EXPECT_EQ(with("require").exitCode, 1);
}
