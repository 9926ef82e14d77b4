#pragma once
// Detached CMS signatures over MUD files (RFC 8520 section 13): verification against trust
// anchors, and signing for device makers. Output of `mudguard sign` is accepted by
// `openssl cms -verify -binary -inform DER -content FILE -CAfile CA`, and signatures made with
// `openssl cms -sign -binary -outform DER [-certfile CHAIN]` are accepted here.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/mudparser/Diagnostic.h"

namespace mudguard::mudparser {

/// Unusable keys, certificates or anchor files (not a verdict on a signature: see SignatureCheck).
class SignatureError : public Error {
public:
    using Error::Error;
};

struct SignatureCheck;
struct VerifyOptions;

/// Certificates a MUD signer must chain to. Built once, then shared by any number of threads (an
/// X509_STORE inside, plus internal caches with their own locking).
class TrustAnchors {
public:
    /// Every certificate in each PEM file. Throws SignatureError for an unreadable file or one
    /// without certificates.
    static std::shared_ptr<const TrustAnchors> fromPemFiles(const std::vector<std::filesystem::path>& files);
    /// The system's CA store (X509_STORE_set_default_paths).
    static std::shared_ptr<const TrustAnchors> systemStore();

    ~TrustAnchors();
    TrustAnchors(const TrustAnchors&) = delete;
    TrustAnchors& operator=(const TrustAnchors&) = delete;

    /// Subjects of the anchors loaded from files (empty for the system store).
    const std::vector<std::string>& subjects() const;
    /// The X509_STORE (as void* to keep OpenSSL out of this header).
    void* nativeStore() const;

private:
    TrustAnchors();
    friend SignatureCheck verifySignature(
        std::string_view, std::string_view, const TrustAnchors&, const VerifyOptions&);
    /// Besides the store: decoded certificates and verified chains, so that further signatures of
    /// a known signer cost little (OpenSSL 3.0 decodes public keys slowly).
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// Who signed a MUD file.
struct SignerIdentity {
    std::string subject; ///< the signer certificate's subject
    std::string issuer; ///< its issuer
    std::string fingerprint; ///< SHA-256 of the signer certificate (hex)
    std::string notAfter; ///< RFC 3339

    /// The same signer for the same-signer rule: same subject from the same issuer (a renewed
    /// certificate keeps its identity; a certificate from another CA does not).
    bool sameSigner(const SignerIdentity& o) const { return subject == o.subject && issuer == o.issuer; }
    /// "CN=..., O=... issued by O=..."
    std::string describe() const;
    bool operator==(const SignerIdentity&) const = default;
};

/// The verdict on one signature. `code` is stable (docs/trust.md): signature-empty,
/// signature-too-large, signature-malformed, signature-not-signed-data, signature-attached,
/// signature-signer-count, signature-signer-missing, signature-content-mismatch,
/// signature-untrusted, signature-expired, signature-chain-invalid, signature-key-usage.
struct SignatureCheck {
    bool valid = false;
    std::string code;
    std::string message;
    std::optional<SignerIdentity> signer; ///< once the signer certificate is known
    std::vector<std::string> chain; ///< subjects from the signer up to the anchor, when verified
};

struct VerifyOptions {
    /// Verification time (tests, forensics); the current time when unset.
    std::optional<std::chrono::system_clock::time_point> at;
    std::size_t maxSignatureBytes = 64 << 10;
};

/// Verifies a detached DER CMS SignedData over exactly `content`:
///  - one SignerInfo, no embedded content, the signature over these bytes (CMS_BINARY);
///  - the signer's chain (with intermediates from inside the CMS) up to `anchors`, with purpose
///    "any" and strict X.509 checks (a configured anchor's own encoding quirks are tolerated,
///    for example a basicConstraints extension not marked critical);
///  - the signer certificate allows digitalSignature (RFC 8520 section 13.2).
/// Thread-safe. Never throws for a bad signature.
SignatureCheck verifySignature(std::string_view content, std::string_view signatureDer, const TrustAnchors& anchors,
    const VerifyOptions& options = {});

/// A signing key with its certificate and the intermediates to embed.
class SigningCredentials {
public:
    /// PEM files. Throws SignatureError when a file is unreadable, the key is encrypted or does not
    /// belong to the certificate, or the certificate does not allow digitalSignature.
    static SigningCredentials load(const std::filesystem::path& key, const std::filesystem::path& cert,
        const std::optional<std::filesystem::path>& chain = std::nullopt);

    ~SigningCredentials();
    SigningCredentials(SigningCredentials&&) noexcept;
    SigningCredentials& operator=(SigningCredentials&&) noexcept;

    /// A detached DER CMS SignedData (SHA-256) over exactly `content`, with the signer certificate
    /// and the chain embedded.
    std::string sign(std::string_view content) const;

    SignerIdentity identity() const;

private:
    SigningCredentials();
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::mudparser
