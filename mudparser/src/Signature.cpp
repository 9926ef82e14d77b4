#include "mudguard/mudparser/Signature.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mudguard/mudparser/TimeText.h"

#include "OpensslHandles.h"

namespace mudguard::mudparser {

namespace {

std::string readAll(const std::filesystem::path& p, const char* what)
{
    std::ifstream in(p, std::ios::binary);
    if (!in)
        throw SignatureError(fmt::format("cannot read {} {}", what, p.string()));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Every certificate in a PEM text.
ossl::X509StackPtr readCertificates(std::string_view pem)
{
    ossl::X509StackPtr certs(sk_X509_new_null());
    auto bio = ossl::memoryBio(pem);
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
        sk_X509_push(certs.get(), c);
    ERR_clear_error(); // the end of the input shows up as a "no start line" entry
    return certs;
}

SignerIdentity identityOf(const X509* cert)
{
    SignerIdentity id;
    id.subject = ossl::nameText(X509_get_subject_name(cert));
    id.issuer = ossl::nameText(X509_get_issuer_name(cert));
    id.fingerprint = ossl::certSha256(cert);
    id.notAfter = ossl::timeText(X509_get0_notAfter(cert));
    return id;
}

SignatureCheck failure(std::string code, std::string message, std::optional<SignerIdentity> signer = std::nullopt)
{
    SignatureCheck c;
    c.code = std::move(code);
    c.message = std::move(message);
    c.signer = std::move(signer);
    return c;
}

/// Errors that only X509_V_FLAG_X509_STRICT raises.
bool strictOnly(int error)
{
    switch (error) {
    case X509_V_ERR_CA_BCONS_NOT_CRITICAL:
    case X509_V_ERR_CA_CERT_MISSING_KEY_USAGE:
    case X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER:
    case X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER:
    case X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL:
    case X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL:
    case X509_V_ERR_EMPTY_SUBJECT_ALT_NAME:
    case X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL:
    case X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY:
    case X509_V_ERR_ISSUER_NAME_EMPTY:
    case X509_V_ERR_SUBJECT_NAME_EMPTY:
    case X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA:
    case X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN:
    case X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA:
    case X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3:
        return true;
    default:
        return false;
    }
}

/// Strict checks apply to every certificate the signer supplies. A trust anchor is trusted because
/// an admin configured it, so its own encoding quirks are not held against it.
int tolerateAnchorQuirks(int ok, X509_STORE_CTX* ctx)
{
    if (ok)
        return 1;
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    if (strictOnly(X509_STORE_CTX_get_error(ctx)) && depth >= X509_STORE_CTX_get_num_untrusted(ctx))
        return 1;
    return 0;
}

bool untrustedError(int e)
{
    return e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        || e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN || e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        || e == X509_V_ERR_CERT_UNTRUSTED || e == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

} // namespace

std::string SignerIdentity::describe() const { return fmt::format("\"{}\" issued by \"{}\"", subject, issuer); }

// ---- TrustAnchors ----

struct TrustAnchors::Impl {
    ossl::X509StorePtr store { X509_STORE_new() };
    std::vector<std::string> subjects;
};

TrustAnchors::TrustAnchors()
    : m_impl(std::make_unique<Impl>())
{
}

TrustAnchors::~TrustAnchors() = default;

std::shared_ptr<const TrustAnchors> TrustAnchors::fromPemFiles(const std::vector<std::filesystem::path>& files)
{
    std::shared_ptr<TrustAnchors> anchors(new TrustAnchors());
    for (const auto& f : files) {
        auto certs = readCertificates(readAll(f, "trust anchor file"));
        if (sk_X509_num(certs.get()) == 0)
            throw SignatureError(fmt::format("the trust anchor file {} holds no PEM certificate", f.string()));
        for (int i = 0; i < sk_X509_num(certs.get()); ++i) {
            X509* c = sk_X509_value(certs.get(), i);
            ERR_clear_error();
            if (X509_STORE_add_cert(anchors->m_impl->store.get(), c) != 1)
                throw SignatureError(fmt::format(
                    "cannot add a certificate of {} to the trust anchors: {}", f.string(), ossl::drainErrors()));
            anchors->m_impl->subjects.push_back(ossl::nameText(X509_get_subject_name(c)));
        }
    }
    return anchors;
}

std::shared_ptr<const TrustAnchors> TrustAnchors::systemStore()
{
    std::shared_ptr<TrustAnchors> anchors(new TrustAnchors());
    ERR_clear_error();
    if (X509_STORE_set_default_paths(anchors->m_impl->store.get()) != 1)
        throw SignatureError("cannot load the system CA store: " + ossl::drainErrors());
    return anchors;
}

const std::vector<std::string>& TrustAnchors::subjects() const { return m_impl->subjects; }

void* TrustAnchors::nativeStore() const { return m_impl->store.get(); }

// ---- verification ----

SignatureCheck verifySignature(
    std::string_view content, std::string_view der, const TrustAnchors& anchors, const VerifyOptions& options)
{
    if (der.empty())
        return failure("signature-empty", "the signature file is empty");
    if (der.size() > options.maxSignatureBytes)
        return failure("signature-too-large",
            fmt::format(
                "the signature is {} bytes long; at most {} are accepted", der.size(), options.maxSignatureBytes));

    ERR_clear_error();
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ossl::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
    if (!cms)
        return failure("signature-malformed",
            fmt::format("the signature is not a DER-encoded CMS structure ({})", ossl::drainErrors()));
    if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
        return failure("signature-malformed",
            fmt::format("the signature has {} bytes of trailing data after the CMS structure",
                reinterpret_cast<const unsigned char*>(der.data()) + der.size() - p));
    ERR_clear_error(); // stray entries after a successful decode

    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed)
        return failure("signature-not-signed-data",
            fmt::format(
                "the CMS structure is of type {}, not SignedData", OBJ_nid2ln(OBJ_obj2nid(CMS_get0_type(cms.get())))));

    if (CMS_is_detached(cms.get()) != 1) {
        std::string comparison;
        if (ASN1_OCTET_STRING** embedded = CMS_get0_content(cms.get()); embedded && *embedded) {
            std::string_view copy(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*embedded)),
                static_cast<std::size_t>(ASN1_STRING_length(*embedded)));
            comparison = copy == content
                ? "; its embedded copy equals the file"
                : fmt::format("; its embedded copy ({} bytes) also differs from the file ({} bytes)", copy.size(),
                    content.size());
        }
        return failure("signature-attached",
            fmt::format("the signature embeds the signed content (an attached signature, as made by "
                        "'openssl cms -sign -nodetach'); RFC 8520 section 13 requires a detached signature{}",
                comparison));
    }

    auto* infos = CMS_get0_SignerInfos(cms.get());
    int signerCount = infos ? sk_CMS_SignerInfo_num(infos) : 0;
    if (signerCount != 1)
        return failure("signature-signer-count",
            fmt::format("the signature has {} signers; exactly one is accepted", signerCount));

    // Step 1: the signature over exactly these bytes (the signer certificate is checked below,
    // where the exact X.509 reason is available; CMS_verify collapses it into a generic error).
    // A buffering filter over the memory BIO: OpenSSL 3.0's CMS_verify copies a plain memory BIO
    // into a temporary one that it leaks when the digest cannot be set up (an unknown algorithm).
    ossl::BioPtr contentBio(BIO_new(BIO_f_buffer()));
    if (!contentBio)
        return failure("signature-malformed", "out of memory: " + ossl::drainErrors());
    BIO_push(contentBio.get(), ossl::memoryBio(content).release());
    ERR_clear_error();
    if (CMS_verify(cms.get(), nullptr, nullptr, contentBio.get(), nullptr, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY)
        != 1) {
        std::vector<int> reasons;
        std::string text = ossl::drainErrors(&reasons);
        bool noSigner = std::find(reasons.begin(), reasons.end(), CMS_R_SIGNER_CERTIFICATE_NOT_FOUND) != reasons.end();
        if (noSigner)
            return failure("signature-signer-missing",
                "the signature does not contain the signer's certificate (sign with the certificate embedded)");
        std::optional<SignerIdentity> signer;
        ossl::BorrowedX509StackPtr signers(CMS_get0_signers(cms.get()));
        if (signers && sk_X509_num(signers.get()) == 1)
            signer = identityOf(sk_X509_value(signers.get(), 0));
        return failure("signature-content-mismatch",
            fmt::format("the signature does not match the file's bytes ({}): the file was changed after signing, "
                        "or it was signed without -binary",
                text.empty() ? std::string("content verify error") : text),
            signer);
    }
    ERR_clear_error(); // stray entries after a successful verify

    ossl::BorrowedX509StackPtr signers(CMS_get0_signers(cms.get()));
    if (!signers || sk_X509_num(signers.get()) != 1)
        return failure("signature-signer-missing", "the signer's certificate cannot be identified");
    X509* signer = sk_X509_value(signers.get(), 0);
    SignerIdentity id = identityOf(signer);

    // Step 2: the signer's chain, with the intermediates embedded in the CMS.
    ossl::X509StackPtr pool(CMS_get1_certs(cms.get()));
    ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx
        || X509_STORE_CTX_init(ctx.get(), static_cast<X509_STORE*>(anchors.nativeStore()), signer, pool.get()) != 1)
        return failure("signature-chain-invalid", "cannot set up certificate verification: " + ossl::drainErrors(), id);
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
    X509_STORE_CTX_set_verify_cb(ctx.get(), tolerateAnchorQuirks);
    auto at = options.at.value_or(std::chrono::system_clock::now());
    X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(at));
    int verified = X509_verify_cert(ctx.get());
    ERR_clear_error();
    if (verified != 1) {
        int error = X509_STORE_CTX_get_error(ctx.get());
        int depth = X509_STORE_CTX_get_error_depth(ctx.get());
        X509* bad = X509_STORE_CTX_get_current_cert(ctx.get());
        std::string which = bad
            ? fmt::format("certificate \"{}\" (chain depth {})", ossl::nameText(X509_get_subject_name(bad)), depth)
            : fmt::format("chain depth {}", depth);
        std::string reason = X509_verify_cert_error_string(error);
        if (error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID) {
            std::string validity = bad ? fmt::format("valid from {} to {}", ossl::timeText(X509_get0_notBefore(bad)),
                                       ossl::timeText(X509_get0_notAfter(bad)))
                                       : std::string("validity unknown");
            return failure("signature-expired",
                fmt::format("{}: {}: {}, checked at {}", which, reason, validity, formatRfc3339(at)), id);
        }
        if (untrustedError(error)) {
            std::string issuer = bad && error != X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
                    && error != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
                ? fmt::format(" (issuer \"{}\" is not a trust anchor)", ossl::nameText(X509_get_issuer_name(bad)))
                : std::string();
            return failure("signature-untrusted",
                fmt::format(
                    "the signer's chain does not lead to a configured trust anchor: {}: {}{}", which, reason, issuer),
                id);
        }
        return failure("signature-chain-invalid", fmt::format("{}: {}", which, reason), id);
    }

    // Step 3: RFC 8520 section 13.2 asks for a certificate that allows digital signatures; openssl
    // itself signs happily without.
    std::uint32_t usage = X509_get_key_usage(signer);
    if (usage == UINT32_MAX)
        return failure("signature-key-usage",
            fmt::format(
                "the signer certificate \"{}\" has no key usage extension; digitalSignature is required", id.subject),
            id);
    if (!(usage & KU_DIGITAL_SIGNATURE))
        return failure("signature-key-usage",
            fmt::format("the signer certificate \"{}\" does not allow digitalSignature (key usage)", id.subject), id);

    SignatureCheck ok;
    ok.valid = true;
    ok.signer = id;
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    for (int i = 0; chain && i < sk_X509_num(chain); ++i)
        ok.chain.push_back(ossl::nameText(X509_get_subject_name(sk_X509_value(chain, i))));
    return ok;
}

// ---- signing ----

struct SigningCredentials::Impl {
    ossl::EvpPkeyPtr key;
    ossl::X509Ptr cert;
    ossl::X509StackPtr chain { sk_X509_new_null() };
};

SigningCredentials::SigningCredentials()
    : m_impl(std::make_unique<Impl>())
{
}
SigningCredentials::~SigningCredentials() = default;
SigningCredentials::SigningCredentials(SigningCredentials&&) noexcept = default;
SigningCredentials& SigningCredentials::operator=(SigningCredentials&&) noexcept = default;

SigningCredentials SigningCredentials::load(const std::filesystem::path& key, const std::filesystem::path& cert,
    const std::optional<std::filesystem::path>& chain)
{
    SigningCredentials c;
    auto keyPem = readAll(key, "key file");
    auto keyBio = ossl::memoryBio(keyPem);
    // No passphrase callback: an encrypted key is refused instead of prompting.
    auto noPassphrase = [](char*, int, int, void*) -> int { return -1; };
    ERR_clear_error();
    c.m_impl->key.reset(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassphrase, nullptr));
    if (!c.m_impl->key)
        throw SignatureError(
            fmt::format("cannot read a private key from {} (PEM, unencrypted): {}", key.string(), ossl::drainErrors()));

    auto certs = readCertificates(readAll(cert, "certificate file"));
    if (sk_X509_num(certs.get()) == 0)
        throw SignatureError(fmt::format("the certificate file {} holds no PEM certificate", cert.string()));
    c.m_impl->cert.reset(X509_dup(sk_X509_value(certs.get(), 0)));
    // Further certificates in the certificate file count as chain.
    for (int i = 1; i < sk_X509_num(certs.get()); ++i)
        sk_X509_push(c.m_impl->chain.get(), X509_dup(sk_X509_value(certs.get(), i)));
    if (chain) {
        auto extra = readCertificates(readAll(*chain, "chain file"));
        if (sk_X509_num(extra.get()) == 0)
            throw SignatureError(fmt::format("the chain file {} holds no PEM certificate", chain->string()));
        for (int i = 0; i < sk_X509_num(extra.get()); ++i)
            sk_X509_push(c.m_impl->chain.get(), X509_dup(sk_X509_value(extra.get(), i)));
    }
    ERR_clear_error();
    if (X509_check_private_key(c.m_impl->cert.get(), c.m_impl->key.get()) != 1) {
        ERR_clear_error();
        throw SignatureError(
            fmt::format("the key in {} does not belong to the certificate in {}", key.string(), cert.string()));
    }
    std::uint32_t usage = X509_get_key_usage(c.m_impl->cert.get());
    if (usage == UINT32_MAX || !(usage & KU_DIGITAL_SIGNATURE))
        throw SignatureError(fmt::format("the certificate in {} does not allow digitalSignature (key usage); "
                                         "MUD managers refuse signatures made with it (RFC 8520 section 13.2)",
            cert.string()));
    return c;
}

std::string SigningCredentials::sign(std::string_view content) const
{
    auto in = ossl::memoryBio(content);
    ERR_clear_error();
    ossl::CmsPtr cms(
        CMS_sign(m_impl->cert.get(), m_impl->key.get(), m_impl->chain.get(), in.get(), CMS_BINARY | CMS_DETACHED));
    if (!cms)
        throw SignatureError("signing failed: " + ossl::drainErrors());
    ossl::BioPtr out(BIO_new(BIO_s_mem()));
    if (i2d_CMS_bio(out.get(), cms.get()) != 1)
        throw SignatureError("cannot encode the signature: " + ossl::drainErrors());
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

SignerIdentity SigningCredentials::identity() const { return identityOf(m_impl->cert.get()); }

} // namespace mudguard::mudparser
