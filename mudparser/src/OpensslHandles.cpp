#include "OpensslHandles.h"

#include <ctime>

#include <fmt/format.h>
#include <openssl/asn1.h>

namespace mudguard::mudparser::ossl {

BioPtr memoryBio(std::string_view data) { return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))); }

std::string drainErrors(std::vector<int>* reasons)
{
    std::string out;
    const char* file = nullptr;
    const char* func = nullptr;
    const char* data = nullptr;
    int line = 0;
    int flags = 0;
    unsigned long e;
    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        if (reasons)
            reasons->push_back(ERR_GET_REASON(e));
        const char* reason = ERR_reason_error_string(e);
        std::string text = reason ? reason : fmt::format("error 0x{:x}", e);
        // The data text carries the specific part ("Verify error: certificate has expired").
        if ((flags & ERR_TXT_STRING) && data && *data)
            text += fmt::format(" ({})", data);
        if (!out.empty())
            out += "; ";
        out += text;
    }
    return out;
}

std::string nameText(const X509_NAME* name)
{
    if (!name)
        return "(none)";
    BioPtr bio(BIO_new(BIO_s_mem()));
    // RFC 2253 escaping, but in the order of the certificate and with ", " separators.
    constexpr unsigned long kFlags
        = (XN_FLAG_RFC2253 & ~XN_FLAG_DN_REV & ~XN_FLAG_SEP_MASK & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_SEP_CPLUS_SPC;
    X509_NAME_print_ex(bio.get(), name, 0, kFlags);
    char* p = nullptr;
    long n = BIO_get_mem_data(bio.get(), &p);
    std::string s(p, static_cast<std::size_t>(n > 0 ? n : 0));
    return s.empty() ? std::string("(empty name)") : s;
}

std::string certSha256(const X509* cert)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1)
        return {};
    std::string hex;
    for (unsigned i = 0; i < len; ++i)
        hex += fmt::format("{:02x}", md[i]);
    return hex;
}

std::string timeText(const ASN1_TIME* t)
{
    std::tm tm {};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return "(unknown time)";
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
        tm.tm_min, tm.tm_sec);
}

} // namespace mudguard::mudparser::ossl
