#include "TrustJson.h"

namespace mudguard::mudparser::detail {

void writeString(JsonWriter& w, const char* key, const std::string& value)
{
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void writeSigner(JsonWriter& w, const SignerIdentity& s)
{
    w.StartObject();
    writeString(w, "subject", s.subject);
    writeString(w, "issuer", s.issuer);
    writeString(w, "fingerprint", s.fingerprint);
    writeString(w, "not-after", s.notAfter);
    w.EndObject();
}

std::optional<std::string> stringMember(const rapidjson::Value& v, const char* key)
{
    if (!v.IsObject())
        return std::nullopt;
    auto it = v.FindMember(key);
    if (it == v.MemberEnd() || !it->value.IsString())
        return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<SignerIdentity> readSigner(const rapidjson::Value& v)
{
    auto subject = stringMember(v, "subject");
    auto issuer = stringMember(v, "issuer");
    auto fingerprint = stringMember(v, "fingerprint");
    auto notAfter = stringMember(v, "not-after");
    if (!subject || !issuer || !fingerprint || !notAfter)
        return std::nullopt;
    return SignerIdentity { *subject, *issuer, *fingerprint, *notAfter };
}

bool parseJson(rapidjson::Document& doc, const std::string& text)
{
    doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
    return !doc.HasParseError();
}

} // namespace mudguard::mudparser::detail
