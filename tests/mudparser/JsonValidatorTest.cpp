// JsonValidator: the same hardening and located diagnostics for JSON documents other than MUD
// files (here: bare RFC 8519 ACL documents against ietf-access-control-list alone).
#include "mudguard/mudparser/JsonValidator.h"

#include <gtest/gtest.h>

#include "TestSupport.h"

using namespace mudguard::mudparser;

namespace {

const JsonValidator& acls()
{
    static JsonValidator v(
        mudguard::test::sourceDir() / "schemas", { { "ietf-access-control-list", "2019-03-04", { "*" } } });
    return v;
}

constexpr const char* kValid = R"({
  "ietf-access-control-list:acls": {
    "acl": [
      {
        "name": "web",
        "type": "ipv4-acl-type",
        "aces": {
          "ace": [
            {
              "name": "https",
              "matches": {
                "ipv4": { "destination-ipv4-network": "192.0.2.0/24" },
                "tcp": { "destination-port": { "operator": "eq", "port": 443 } }
              },
              "actions": { "forwarding": "accept" }
            }
          ]
        }
      }
    ]
  }
}
)";

std::string with(std::string text, const std::string& from, const std::string& to)
{
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
}

} // namespace

TEST(JsonValidator, AcceptsAValidDocument)
{
    Report r = acls().validate(kValid, "acl.json");
    EXPECT_TRUE(r.diagnostics.empty()) << (r.diagnostics.empty() ? "" : formatText(r.diagnostics[0]));
}

TEST(JsonValidator, LocatesYangErrorsAndReportsSeveral)
{
    std::string text = with(with(kValid, "443", "65536"), "\"accept\"", "\"allow\"");
    Report r = acls().validate(text, "acl.json");
    ASSERT_EQ(r.diagnostics.size(), 2u);
    const Diagnostic& port = r.diagnostics[0];
    EXPECT_EQ(port.code, "yang-out-of-range");
    EXPECT_EQ(port.file, "acl.json");
    EXPECT_EQ(port.path,
        "/ietf-access-control-list:acls/acl[name='web']/aces/ace[name='https']/matches/tcp/"
        "destination-port/port");
    EXPECT_EQ(port.line, 13u);
    EXPECT_EQ(port.column, 74u);
    EXPECT_EQ(port.message, "\"port\" value 65536 is out of range 0..65535");
    EXPECT_EQ(r.diagnostics[1].code, "yang-invalid-value");
    EXPECT_EQ(r.diagnostics[1].line, 15u);
}

TEST(JsonValidator, AppliesTheJsonHardening)
{
    Report dup = acls().validate(with(kValid, "\"name\": \"web\",", "\"name\": \"web\", \"name\": \"www\","), "d.json");
    ASSERT_FALSE(dup.diagnostics.empty());
    EXPECT_EQ(dup.diagnostics[0].code, "json-duplicate-member");
    EXPECT_EQ(dup.diagnostics[0].line, 5u);

    Report bad = acls().validate("{\n  \"a\": [1,\n}", "b.json");
    ASSERT_EQ(bad.diagnostics.size(), 1u);
    EXPECT_EQ(bad.diagnostics[0].code, "json-syntax");
    EXPECT_EQ(bad.diagnostics[0].line, 3u);

    Limits small;
    small.maxDocumentBytes = 100;
    Report big = acls().validate(kValid, "big.json", small);
    ASSERT_EQ(big.diagnostics.size(), 1u);
    EXPECT_EQ(big.diagnostics[0].code, "limit-size");

    Report notObject = acls().validate("[]", "n.json");
    ASSERT_EQ(notObject.diagnostics.size(), 1u);
    EXPECT_EQ(notObject.diagnostics[0].code, "json-not-object");
}

TEST(JsonValidator, RefusesModulesItCannotLoad)
{
    EXPECT_THROW(JsonValidator(mudguard::test::sourceDir() / "schemas", { { "no-such-module", "", {} } }), Error);
}
