// Component tests of CMS signature verification and signing, with a test PKI made by the openssl
// command line, interoperability with `openssl cms` in both directions, and the real corpus.

#include "mudguard/mudparser/Signature.h"

#include <thread>

#include <gtest/gtest.h>

#include "mudguard/Config.h"
#include "mudguard/mudparser/TimeText.h"

#include "TrustTestSupport.h"

using namespace mudguard::mudparser;
using namespace mudguard::test;

namespace {

const std::string kContent = sampleMud("https://mud.test/dev", "dev.p7s");

std::shared_ptr<const TrustAnchors> testRoot()
{
    return TrustAnchors::fromPemFiles({ TestPki::get().file("root.pem") });
}

SignatureCheck verify(const std::string& content, const std::string& sig, const TrustAnchors& anchors,
    std::optional<std::string> at = std::nullopt)
{
    VerifyOptions o;
    if (at)
        o.at = parseRfc3339(*at);
    return verifySignature(content, sig, anchors, o);
}

std::filesystem::path corpus(const std::string& rel) { return corpusDir() / "mud" / rel; }

} // namespace

TEST(Signature, AcceptsAnOpensslSignatureWithEmbeddedIntermediate)
{
    auto sig = opensslSign(kContent, "signer");
    auto check = verify(kContent, sig, *testRoot());
    ASSERT_TRUE(check.valid) << check.code << ": " << check.message;
    ASSERT_TRUE(check.signer);
    EXPECT_EQ(check.signer->subject, "O=Example Maker, CN=Example Maker MUD signer");
    EXPECT_EQ(check.signer->issuer, "O=mudguard test, CN=mudguard test intermediate");
    EXPECT_EQ(check.signer->fingerprint.size(), 64u);
    ASSERT_EQ(check.chain.size(), 3u);
    EXPECT_EQ(check.chain.back(), "O=mudguard test, CN=mudguard test root");
}

TEST(Signature, SignerWithCodeSigningUsageIsAccepted)
{
    // The default S/MIME purpose would refuse an EKU of codeSigning; MUD signers use purpose "any".
    auto sig = opensslSign(kContent, "signer-codesign");
    auto check = verify(kContent, sig, *testRoot());
    EXPECT_TRUE(check.valid) << check.message;
}

TEST(Signature, TamperedContentIsRefused)
{
    auto sig = opensslSign(kContent, "signer");
    auto tampered = kContent;
    tampered.replace(tampered.find("443"), 3, "444");
    auto check = verify(tampered, sig, *testRoot());
    EXPECT_FALSE(check.valid);
    EXPECT_EQ(check.code, "signature-content-mismatch");
    EXPECT_NE(check.message.find("content verify error"), std::string::npos) << check.message;
    ASSERT_TRUE(check.signer); // the admin still learns who signed
    EXPECT_EQ(check.signer->subject, "O=Example Maker, CN=Example Maker MUD signer");
}

TEST(Signature, SigningWithoutBinaryBreaksTheSignature)
{
    // Without -binary openssl turns LF into CRLF before signing: the file as served no longer matches.
    const auto& pki = TestPki::get();
    TempDir work("mudguard-sig");
    writeFile(work.path() / "f", kContent);
    openssl({ "cms", "-sign", "-outform", "DER", "-in", (work.path() / "f").string(), "-signer",
        pki.file("signer.pem").string(), "-inkey", pki.file("signer.key").string(), "-certfile",
        pki.file("signer-chain.pem").string(), "-out", (work.path() / "s").string() });
    auto check = verify(kContent, readFile(work.path() / "s"), *testRoot());
    EXPECT_EQ(check.code, "signature-content-mismatch");
}

TEST(Signature, UntrustedCaIsRefused)
{
    auto sig = opensslSign(kContent, "signer-untrusted");
    auto check = verify(kContent, sig, *testRoot());
    EXPECT_EQ(check.code, "signature-untrusted");
    EXPECT_NE(check.message.find("does not lead to a configured trust anchor"), std::string::npos) << check.message;
    EXPECT_NE(
        check.message.find("(issuer \"O=somebody else, CN=unknown root\" is not a trust anchor)"), std::string::npos)
        << check.message;
}

TEST(Signature, AnchorsOfAnotherMakerDoNotVerify)
{
    auto sig = opensslSign(kContent, "signer");
    auto other = TrustAnchors::fromPemFiles({ TestPki::get().file("other-root.pem") });
    auto check = verify(kContent, sig, *other);
    EXPECT_EQ(check.code, "signature-untrusted");
    EXPECT_NE(check.message.find("unable to get local issuer certificate"), std::string::npos) << check.message;
}

TEST(Signature, SignerWithoutDigitalSignatureIsRefused)
{
    auto check = verify(kContent, opensslSign(kContent, "signer-nods"), *testRoot());
    EXPECT_EQ(check.code, "signature-key-usage");
    EXPECT_EQ(check.message,
        "the signer certificate \"O=Example Maker, CN=no digitalSignature\" does not allow digitalSignature (key "
        "usage)");
    auto none = verify(kContent, opensslSign(kContent, "signer-nokeyusage"), *testRoot());
    EXPECT_EQ(none.code, "signature-key-usage");
    EXPECT_NE(none.message.find("has no key usage extension"), std::string::npos);
}

TEST(Signature, AttachedSignatureIsRefused)
{
    auto sig = opensslSign(kContent, "signer", { "-nodetach" });
    auto check = verify(kContent, sig, *testRoot());
    EXPECT_EQ(check.code, "signature-attached");
    EXPECT_NE(
        check.message.find("RFC 8520 section 13 requires a detached signature; its embedded copy equals the file"),
        std::string::npos)
        << check.message;
}

TEST(Signature, MalformedInputIsRefused)
{
    auto root = testRoot();
    EXPECT_EQ(verify(kContent, "", *root).code, "signature-empty");
    auto blob = verify(kContent, "this is not a signature", *root);
    EXPECT_EQ(blob.code, "signature-malformed");
    EXPECT_NE(blob.message.find("not a DER-encoded CMS structure"), std::string::npos);
    auto sig = opensslSign(kContent, "signer");
    EXPECT_EQ(verify(kContent, sig + "junk", *root).code, "signature-malformed");
    EXPECT_EQ(verify(kContent, sig.substr(0, sig.size() / 2), *root).code, "signature-malformed");
    VerifyOptions small;
    small.maxSignatureBytes = 100;
    EXPECT_EQ(verifySignature(kContent, sig, *root, small).code, "signature-too-large");
}

TEST(Signature, OtherCmsTypesAndSignerCountsAreRefused)
{
    const auto& pki = TestPki::get();
    TempDir work("mudguard-sig");
    auto f = (work.path() / "f").string();
    writeFile(f, kContent);
    openssl({ "cms", "-data_create", "-binary", "-in", f, "-outform", "DER", "-out", f + ".data" });
    EXPECT_EQ(verify(kContent, readFile(f + ".data"), *testRoot()).code, "signature-not-signed-data");

    openssl({ "cms", "-sign", "-binary", "-outform", "DER", "-in", f, "-signer", pki.file("signer.pem").string(),
        "-inkey", pki.file("signer.key").string(), "-signer", pki.file("signer2.pem").string(), "-inkey",
        pki.file("signer2.key").string(), "-certfile", pki.file("signer-chain.pem").string(), "-out", f + ".two" });
    auto two = verify(kContent, readFile(f + ".two"), *testRoot());
    EXPECT_EQ(two.code, "signature-signer-count");
    EXPECT_EQ(two.message, "the signature has 2 signers; exactly one is accepted");

    openssl({ "cms", "-sign", "-binary", "-nocerts", "-outform", "DER", "-in", f, "-signer",
        pki.file("signer.pem").string(), "-inkey", pki.file("signer.key").string(), "-out", f + ".nocerts" });
    EXPECT_EQ(verify(kContent, readFile(f + ".nocerts"), *testRoot()).code, "signature-signer-missing");
}

TEST(Signature, ExpiryAndVerificationTime)
{
    auto expired = verify(kContent, opensslSign(kContent, "signer-expired"), *testRoot());
    EXPECT_EQ(expired.code, "signature-expired");
    EXPECT_NE(expired.message.find("certificate has expired: valid from 2020-01-01T00:00:00Z to 2020-02-01T00:00:00Z"),
        std::string::npos)
        << expired.message;

    // Before the certificates existed they were not yet valid.
    auto early = verify(kContent, opensslSign(kContent, "signer"), *testRoot(), "2001-01-01T00:00:00Z");
    EXPECT_EQ(early.code, "signature-expired");
    EXPECT_NE(early.message.find("certificate is not yet valid"), std::string::npos) << early.message;
    EXPECT_NE(early.message.find("checked at 2001-01-01T00:00:00Z"), std::string::npos) << early.message;
}

TEST(Signature, RememberedChainsHonourValidityAndAnchors)
{
    // The first verification remembers the signer's chain; later ones must still see expiry, other
    // anchors and other content.
    auto root = testRoot();
    auto sig = opensslSign(kContent, "signer");
    ASSERT_TRUE(verify(kContent, sig, *root).valid);
    ASSERT_TRUE(verify(kContent, sig, *root).valid);
    EXPECT_EQ(verify(kContent, sig, *root, "2200-01-01T00:00:00Z").code, "signature-expired");
    EXPECT_EQ(verify(kContent, sig, *root, "2001-01-01T00:00:00Z").code, "signature-expired");
    auto other = TrustAnchors::fromPemFiles({ TestPki::get().file("other-root.pem") });
    EXPECT_EQ(verify(kContent, sig, *other).code, "signature-untrusted");
    auto second = kContent + "\n";
    EXPECT_TRUE(verify(second, opensslSign(second, "signer"), *root).valid);
    EXPECT_EQ(verify(second, sig, *root).code, "signature-content-mismatch");
    auto check = verify(kContent, sig, *root);
    ASSERT_EQ(check.chain.size(), 3u);
    EXPECT_EQ(check.chain.front(), "O=Example Maker, CN=Example Maker MUD signer");
}

TEST(Signature, MudguardSignatureIsAcceptedByOpensslCms)
{
    const auto& pki = TestPki::get();
    auto creds = SigningCredentials::load(pki.file("signer.key"), pki.file("signer.pem"), pki.file("signer-chain.pem"));
    auto sig = creds.sign(kContent);
    EXPECT_TRUE(verify(kContent, sig, *testRoot()).valid);

    TempDir work("mudguard-sig");
    writeFile(work.path() / "dev.json", kContent);
    writeFile(work.path() / "dev.p7s", sig);
    // Exactly the device maker's check from the issue, with the default (S/MIME) purpose.
    auto r = runCommand({ mudguard::config::kOpensslProgram, "cms", "-verify", "-binary", "-inform", "DER", "-in",
        (work.path() / "dev.p7s").string(), "-content", (work.path() / "dev.json").string(), "-CAfile",
        pki.file("root.pem").string(), "-out", "/dev/null" });
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.err.find("Verification successful"), std::string::npos) << r.err;

    // And it is really detached, DER and over these bytes only.
    writeFile(work.path() / "other.json", kContent + " ");
    auto bad = runCommand({ mudguard::config::kOpensslProgram, "cms", "-verify", "-binary", "-inform", "DER", "-in",
        (work.path() / "dev.p7s").string(), "-content", (work.path() / "other.json").string(), "-CAfile",
        pki.file("root.pem").string(), "-out", "/dev/null" });
    EXPECT_NE(bad.exitCode, 0);
}

TEST(Signature, SigningCredentialsAreChecked)
{
    const auto& pki = TestPki::get();
    EXPECT_THROW(SigningCredentials::load(pki.file("signer-nods.key"), pki.file("signer-nods.pem")), SignatureError);
    EXPECT_THROW(SigningCredentials::load(pki.file("signer2.key"), pki.file("signer.pem")), SignatureError);
    EXPECT_THROW(SigningCredentials::load(pki.file("missing.key"), pki.file("signer.pem")), SignatureError);
    EXPECT_THROW(TrustAnchors::fromPemFiles({ pki.file("signer.key") }), SignatureError);
    try {
        SigningCredentials::load(pki.file("signer2.key"), pki.file("signer.pem"));
    } catch (const SignatureError& e) {
        EXPECT_NE(std::string(e.what()).find("does not belong to the certificate"), std::string::npos) << e.what();
    }
}

TEST(Signature, SharedAnchorsAcrossThreads)
{
    auto root = testRoot();
    auto sig = opensslSign(kContent, "signer");
    auto bad = opensslSign(kContent, "signer-untrusted");
    std::atomic<int> good { 0 }, refused { 0 };
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                good += verifySignature(kContent, sig, *root).valid ? 1 : 0;
                refused += verifySignature(kContent, bad, *root).code == "signature-untrusted" ? 1 : 0;
            }
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(good.load(), 100);
    EXPECT_EQ(refused.load(), 100);
}

// ---- the real corpus ----

TEST(SignatureCorpus, CiscoLuminaireVerifiesInsideValidityAndExpiresToday)
{
    auto dir = corpus("ciscodevnet-mud-manager/examples/luminaire");
    auto anchors = TrustAnchors::fromPemFiles({ dir / "luminaire-cacert.pem" });
    auto content = readFile(dir / "fs/Luminaire_150.json");
    auto sig = readFile(dir / "fs/Luminaire_150.p7s");

    auto then = verify(content, sig, *anchors, "2019-01-01T00:00:00Z");
    ASSERT_TRUE(then.valid) << then.code << ": " << then.message;
    EXPECT_EQ(then.signer->subject, "O=Demo Luminaire Manufacturer, CN=luminaire.example.com");

    auto today = verify(content, sig, *anchors);
    EXPECT_EQ(today.code, "signature-expired");
    EXPECT_NE(today.message.find("certificate \"O=Demo Luminaire Manufacturer\" (chain depth 1): certificate has "
                                 "expired: valid from 2018-07-12T20:54:35Z to 2019-07-12T20:54:35Z"),
        std::string::npos)
        << today.message;
}

TEST(SignatureCorpus, OsmudSignatureDoesNotMatchItsFile)
{
    auto dir = corpus("osmud-fork-stef-a99/src/tmp/osmud/mudfiles");
    auto check = verify(readFile(dir / "pi4.json"), readFile(dir / "pi4.p7s"), *testRoot());
    EXPECT_EQ(check.code, "signature-content-mismatch");
    ASSERT_TRUE(check.signer);
    EXPECT_EQ(check.signer->subject, "C=IT, ST=Italy, O=Unibo, OU=DISI, CN=mudfs.example.com");
}

TEST(SignatureCorpus, AshtapadhiSignatureIsAttachedAndDiffers)
{
    auto dir = corpus("ashtapadhi-mud/mud_manager");
    auto anchors = TrustAnchors::fromPemFiles({ dir / "cert.pem" });
    auto check = verify(readFile(dir / "mudfile.json"), readFile(dir / "mudfile.p7s"), *anchors);
    EXPECT_EQ(check.code, "signature-attached");
    EXPECT_NE(check.message.find("its embedded copy (24071 bytes) also differs from the file (23270 bytes)"),
        std::string::npos)
        << check.message;
}
