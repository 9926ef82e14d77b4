#pragma once
// JSON forms of trust records in the state directory (RapidJSON).

#include <optional>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "mudguard/mudparser/Signature.h"

namespace mudguard::mudparser::detail {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void writeString(JsonWriter& w, const char* key, const std::string& value);
void writeSigner(JsonWriter& w, const SignerIdentity& s);

/// The string member `key`, or nullopt when missing or not a string.
std::optional<std::string> stringMember(const rapidjson::Value& v, const char* key);
std::optional<SignerIdentity> readSigner(const rapidjson::Value& v);

/// Parses our own state files: iterative (no recursion), UTF-8 validated. False on any error.
bool parseJson(rapidjson::Document& doc, const std::string& text);

} // namespace mudguard::mudparser::detail
