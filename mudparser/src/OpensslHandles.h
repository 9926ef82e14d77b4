#pragma once
// RAII owners for the OpenSSL handles of the trust code, and the one place that reads OpenSSL's
// error queue.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

namespace mudguard::mudparser::ossl {

template <auto Free> struct CDeleter {
    void operator()(auto* p) const noexcept { Free(p); }
};

inline void freeX509Stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
inline void freeBorrowedX509Stack(STACK_OF(X509) * s) { sk_X509_free(s); }

using BioPtr = std::unique_ptr<BIO, CDeleter<BIO_free_all>>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CDeleter<CMS_ContentInfo_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, CDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, CDeleter<X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, CDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, CDeleter<X509_STORE_CTX_free>>;
/// A stack that owns its certificates (CMS_get1_certs, PEM chains).
using X509StackPtr = std::unique_ptr<STACK_OF(X509), CDeleter<freeX509Stack>>;
/// A stack of borrowed certificates (CMS_get0_signers).
using BorrowedX509StackPtr = std::unique_ptr<STACK_OF(X509), CDeleter<freeBorrowedX509Stack>>;

/// A read-only memory BIO over `data` (which must outlive it).
BioPtr memoryBio(std::string_view data);

/// Empties the thread's error queue and returns its entries, most specific text first, joined
/// with "; " (empty when the queue was empty), and the entries' reason codes in `reasons`. Success
/// is never judged by this: OpenSSL leaves stray entries behind after successful calls.
std::string drainErrors(std::vector<int>* reasons = nullptr);

/// "CN=..., O=..." (RFC 2253 order reversed to the usual reading order, UTF-8).
std::string nameText(const X509_NAME* name);

/// Hex SHA-256 of the certificate's DER encoding.
std::string certSha256(const X509* cert);

/// "2019-07-12T20:54:35Z".
std::string timeText(const ASN1_TIME* t);

} // namespace mudguard::mudparser::ossl
