#include "mudguard/mudparser/Signature.h"

#include <algorithm>
#include <ctime>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <unordered_map>

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

// ---- a minimal DER reader, to take the certificates out of a SignedData ----

struct Tlv {
    unsigned char tag = 0;
    std::string_view all; ///< header and value
    std::string_view value; ///< contents
};

/// One definite-length DER element at the start of `in` (single-byte tags only).
std::optional<Tlv> readTlv(std::string_view in)
{
    if (in.size() < 2)
        return std::nullopt;
    auto tag = static_cast<unsigned char>(in[0]);
    if ((tag & 0x1f) == 0x1f)
        return std::nullopt;
    std::size_t header = 2;
    std::size_t length = static_cast<unsigned char>(in[1]);
    if (length & 0x80) {
        std::size_t bytes = length & 0x7f;
        if (bytes == 0 || bytes > 4 || in.size() < 2 + bytes)
            return std::nullopt; // indefinite (BER) or absurd lengths
        length = 0;
        for (std::size_t i = 0; i < bytes; ++i)
            length = (length << 8) | static_cast<unsigned char>(in[2 + i]);
        header += bytes;
    }
    if (length > in.size() - header)
        return std::nullopt;
    return Tlv { tag, in.substr(0, header + length), in.substr(header, length) };
}

std::string encodeTlv(unsigned char tag, std::string_view value)
{
    std::string out(1, static_cast<char>(tag));
    std::size_t n = value.size();
    if (n < 0x80) {
        out += static_cast<char>(n);
    } else {
        std::string bytes;
        for (; n; n >>= 8)
            bytes.insert(bytes.begin(), static_cast<char>(n & 0xff));
        out += static_cast<char>(0x80 | bytes.size());
        out += bytes;
    }
    out.append(value);
    return out;
}

/// A ContentInfo with SignedData, split into the same structure without its certificate set, and
/// the certificates (DER). Decoding certificates is the costly part of reading a signature in
/// OpenSSL 3.0 (the public key goes through the provider decoders), and a maker's certificates
/// repeat from file to file, so they are decoded once and kept by TrustAnchors. nullopt for
/// anything unusual; the caller then decodes the signature as it is.
struct SplitSignature {
    std::string withoutCertificates;
    std::vector<std::string_view> certificates;
};

std::optional<SplitSignature> splitCertificates(std::string_view der)
{
    auto outer = readTlv(der);
    if (!outer || outer->tag != 0x30 || outer->all.size() != der.size())
        return std::nullopt;
    auto oid = readTlv(outer->value);
    if (!oid || oid->tag != 0x06)
        return std::nullopt;
    auto rest = outer->value.substr(oid->all.size());
    auto explicit0 = readTlv(rest);
    if (!explicit0 || explicit0->tag != 0xa0 || explicit0->all.size() != rest.size())
        return std::nullopt;
    auto signedData = readTlv(explicit0->value);
    if (!signedData || signedData->tag != 0x30 || signedData->all.size() != explicit0->value.size())
        return std::nullopt;
    SplitSignature split;
    std::string kept;
    bool found = false;
    for (auto in = signedData->value; !in.empty();) {
        auto element = readTlv(in);
        if (!element)
            return std::nullopt;
        if (element->tag == 0xa0 && !found) { // certificates [0] IMPLICIT CertificateSet
            found = true;
            for (auto certs = element->value; !certs.empty();) {
                auto cert = readTlv(certs);
                if (!cert || cert->tag != 0x30)
                    return std::nullopt; // attribute certificates and the like: not handled here
                split.certificates.push_back(cert->all);
                certs.remove_prefix(cert->all.size());
            }
        } else {
            kept.append(element->all);
        }
        in.remove_prefix(element->all.size());
    }
    if (!found)
        return std::nullopt;
    split.withoutCertificates = encodeTlv(0x30, std::string(oid->all) + encodeTlv(0xa0, encodeTlv(0x30, kept)));
    return split;
}

std::optional<std::time_t> toTimeT(const ASN1_TIME* t)
{
    std::tm tm {};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return std::nullopt;
    return timegm(&tm);
}

} // namespace

std::string SignerIdentity::describe() const { return fmt::format("\"{}\" issued by \"{}\"", subject, issuer); }

namespace {

/// The exact reason a chain did not verify: which certificate, which check.
SignatureCheck chainFailure(X509_STORE_CTX* ctx, std::chrono::system_clock::time_point at, const SignerIdentity& id)
{
    int error = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509* bad = X509_STORE_CTX_get_current_cert(ctx);
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
        std::string issuer
            = bad && error != X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN && error != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
            ? fmt::format(" (issuer \"{}\" is not a trust anchor)", ossl::nameText(X509_get_issuer_name(bad)))
            : std::string();
        return failure("signature-untrusted",
            fmt::format(
                "the signer's chain does not lead to a configured trust anchor: {}: {}{}", which, reason, issuer),
            id);
    }
    return failure("signature-chain-invalid", fmt::format("{}: {}", which, reason), id);
}

} // namespace

// ---- TrustAnchors ----

struct TrustAnchors::Impl {
    ossl::X509StorePtr store { X509_STORE_new() };
    std::vector<std::string> subjects;

    // Caches that make a maker's second signature cheap. Both are bounded and thread-safe.
    static constexpr std::size_t kMaxCertificates = 512;
    static constexpr std::size_t kMaxChains = 1024;
    struct Chain {
        std::time_t validFrom = 0, validUntil = 0; ///< where every certificate of the chain is valid
        std::vector<std::string> subjects;
    };
    std::mutex mutex;
    std::unordered_map<std::string, ossl::X509Ptr> certificates; ///< by DER
    std::unordered_map<std::string, Chain> chains; ///< verified chains, by signer fingerprint

    /// The decoded certificate (a new reference), from the cache or decoded now; null when the
    /// DER is not a certificate.
    ossl::X509Ptr certificate(std::string_view der)
    {
        {
            std::lock_guard lock(mutex);
            if (auto it = certificates.find(std::string(der)); it != certificates.end()) {
                X509_up_ref(it->second.get());
                return ossl::X509Ptr(it->second.get());
            }
        }
        const auto* p = reinterpret_cast<const unsigned char*>(der.data());
        ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
        if (!cert || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
            return nullptr;
        std::lock_guard lock(mutex);
        if (certificates.size() >= kMaxCertificates)
            certificates.clear();
        X509_up_ref(cert.get());
        certificates.emplace(std::string(der), ossl::X509Ptr(cert.get()));
        return cert;
    }

    std::optional<std::vector<std::string>> verifiedChain(const std::string& fingerprint, std::time_t at)
    {
        std::lock_guard lock(mutex);
        auto it = chains.find(fingerprint);
        if (it == chains.end() || at < it->second.validFrom || at > it->second.validUntil)
            return std::nullopt;
        return it->second.subjects;
    }

    void rememberChain(const std::string& fingerprint, Chain chain)
    {
        std::lock_guard lock(mutex);
        if (chains.size() >= kMaxChains)
            chains.clear();
        chains[fingerprint] = std::move(chain);
    }
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

    auto& cache = *anchors.m_impl;
    ERR_clear_error();
    ossl::CmsPtr cms;
    ossl::X509StackPtr pool(sk_X509_new_null()); // the certificates that came with the signature
    if (auto split = splitCertificates(der)) {
        for (auto certDer : split->certificates) {
            auto cert = cache.certificate(certDer);
            if (!cert)
                break;
            sk_X509_push(pool.get(), cert.release());
        }
        const auto* p = reinterpret_cast<const unsigned char*>(split->withoutCertificates.data());
        const auto* end = p + split->withoutCertificates.size();
        if (static_cast<std::size_t>(sk_X509_num(pool.get())) == split->certificates.size())
            cms.reset(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(split->withoutCertificates.size())));
        if (cms && p != end)
            cms.reset();
        if (!cms)
            pool.reset(sk_X509_new_null());
        ERR_clear_error();
    }
    if (!cms) {
        const auto* p = reinterpret_cast<const unsigned char*>(der.data());
        cms.reset(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
        if (!cms)
            return failure("signature-malformed",
                fmt::format("the signature is not a DER-encoded CMS structure ({})", ossl::drainErrors()));
        if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
            return failure("signature-malformed",
                fmt::format("the signature has {} bytes of trailing data after the CMS structure",
                    reinterpret_cast<const unsigned char*>(der.data()) + der.size() - p));
        pool.reset(CMS_get1_certs(cms.get()));
        if (!pool)
            pool.reset(sk_X509_new_null());
    }
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
    if (CMS_verify(cms.get(), pool.get(), nullptr, contentBio.get(), nullptr, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY)
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

    // Step 2: the signer's chain, with the intermediates embedded in the CMS. A chain verified
    // before for this signer certificate and these anchors holds wherever all its certificates are
    // valid (there is no revocation checking to change the answer).
    auto at = options.at.value_or(std::chrono::system_clock::now());
    auto atT = std::chrono::system_clock::to_time_t(at);
    std::vector<std::string> chainSubjects;
    if (auto known = cache.verifiedChain(id.fingerprint, atT)) {
        chainSubjects = std::move(*known);
    } else {
        ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
        if (!ctx
            || X509_STORE_CTX_init(ctx.get(), static_cast<X509_STORE*>(anchors.nativeStore()), signer, pool.get()) != 1)
            return failure(
                "signature-chain-invalid", "cannot set up certificate verification: " + ossl::drainErrors(), id);
        X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);
        X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
        X509_STORE_CTX_set_verify_cb(ctx.get(), tolerateAnchorQuirks);
        X509_STORE_CTX_set_time(ctx.get(), 0, atT);
        int verified = X509_verify_cert(ctx.get());
        ERR_clear_error();
        if (verified != 1)
            return chainFailure(ctx.get(), at, id);
        TrustAnchors::Impl::Chain chain;
        chain.validUntil = std::numeric_limits<std::time_t>::max();
        bool bounded = true;
        STACK_OF(X509)* verifiedChain = X509_STORE_CTX_get0_chain(ctx.get());
        for (int i = 0; verifiedChain && i < sk_X509_num(verifiedChain); ++i) {
            X509* c = sk_X509_value(verifiedChain, i);
            chain.subjects.push_back(ossl::nameText(X509_get_subject_name(c)));
            auto from = toTimeT(X509_get0_notBefore(c));
            auto until = toTimeT(X509_get0_notAfter(c));
            if (!from || !until)
                bounded = false;
            else {
                chain.validFrom = std::max(chain.validFrom, *from);
                chain.validUntil = std::min(chain.validUntil, *until);
            }
        }
        chainSubjects = chain.subjects;
        if (bounded)
            cache.rememberChain(id.fingerprint, std::move(chain));
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
    ok.chain = std::move(chainSubjects);
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
