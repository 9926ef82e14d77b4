#pragma once
// The API's JSON: member names in kebab-case, times in RFC 3339 UTC with milliseconds, absent
// values as null (every member of a shape is always present, so scripts can rely on it).
// Shapes are documented in docs/api.md and docs/openapi.yaml.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "mudguard/controller/ApiBackend.h"

namespace mudguard::controller::api {

/// "2025-01-02T10:11:12.345Z"
std::string formatTime(Timestamp t);

/// Replaces invalid UTF-8 with U+FFFD, so that any byte string can be sent.
std::string validUtf8(std::string_view s);

/// A thin layer over RapidJSON's Writer for the API's conventions.
class JsonWriter {
public:
    JsonWriter();

    JsonWriter& key(std::string_view k);
    JsonWriter& string(std::string_view v);
    JsonWriter& number(std::uint64_t v);
    JsonWriter& number(std::int64_t v);
    JsonWriter& boolean(bool v);
    JsonWriter& null();
    JsonWriter& time(Timestamp t);
    JsonWriter& time(const std::optional<Timestamp>& t);
    JsonWriter& optString(const std::optional<std::string>& v);
    /// null when empty
    JsonWriter& stringOrNull(std::string_view v);
    JsonWriter& strings(const std::vector<std::string>& v);
    /// A JSON text stored elsewhere (audit details): written as parsed JSON when it is valid,
    /// as a string otherwise.
    JsonWriter& embedded(std::string_view jsonText);
    JsonWriter& beginObject();
    JsonWriter& endObject();
    JsonWriter& beginArray();
    JsonWriter& endArray();

    std::string take();

private:
    rapidjson::StringBuffer m_buf;
    rapidjson::Writer<rapidjson::StringBuffer> m_w;
};

/// `{"status":404,"error":"not-found","message":"..."}`
std::string errorJson(int status, std::string_view code, std::string_view message);
/// The 422 body for an invalid MUD file or configuration, with its diagnostics.
std::string invalidDocumentJson(int status, std::string_view code, std::string_view message, std::string_view mudUrl,
    const std::vector<mudparser::Diagnostic>& diagnostics);

std::string devicesJson(const std::vector<Device>& devices);
std::string deviceDetailJson(const DeviceDetail& d);
std::string policiesJson(const std::vector<Policy>& policies);
std::string policyDetailJson(const PolicyDetail& p);
std::string eventsJson(const AuditPage& page);
std::string healthJson(const Health& h);
std::string outcomeJson(const ActionOutcome& o);

} // namespace mudguard::controller::api
