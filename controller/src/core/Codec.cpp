// Small conversions the core needs: digests, the durable form of a signer.

#include <fmt/format.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/State.h"

namespace mudguard::controller::core {

std::string sha256Hex(std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out += kHex[md[i] >> 4];
        out += kHex[md[i] & 0x0f];
    }
    return out;
}

std::string encodeSigner(const mudparser::SignerIdentity& id)
{
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto member = [&](const char* key, const std::string& value) {
        w.Key(key);
        w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
    };
    w.StartObject();
    member("subject", id.subject);
    member("issuer", id.issuer);
    member("fingerprint", id.fingerprint);
    member("notAfter", id.notAfter);
    w.EndObject();
    return { buf.GetString(), buf.GetSize() };
}

std::optional<mudparser::SignerIdentity> decodeSigner(const std::string& text)
{
    rapidjson::Document d;
    d.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
    if (d.HasParseError() || !d.IsObject())
        return std::nullopt;
    auto get = [&](const char* k) {
        auto it = d.FindMember(k);
        return it != d.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
    };
    mudparser::SignerIdentity id { get("subject"), get("issuer"), get("fingerprint"), get("notAfter") };
    if (id.subject.empty() && id.issuer.empty())
        return std::nullopt;
    return id;
}

} // namespace mudguard::controller::core
