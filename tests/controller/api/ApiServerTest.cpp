// The HTTP API against a fake backend: roles, tokens, validation, limits, errors, logging and
// metrics, through a real cpp-httplib client and hand-made requests on raw sockets.
#include <algorithm>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "ApiTestSupport.h"
#include "TestSupport.h"

namespace mudguard::test {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class ApiServerTest : public ::testing::Test {
protected:
    ApiUnderTest api;

    std::size_t countCalls(const std::string& method) const
    {
        auto calls = api.backend.calls();
        return static_cast<std::size_t>(
            std::count_if(calls.begin(), calls.end(), [&](const auto& c) { return c.method == method; }));
    }

    /// Waits for a log line matching `pred`: a request is logged after its answer is written, so
    /// the client may see the answer first.
    bool logged(const std::function<bool(const std::string&)>& pred) const
    {
        return waitFor(
            [&] {
                auto lines = api.logLines();
                return std::any_of(lines.begin(), lines.end(), pred);
            },
            10s);
    }

    std::string raw(const std::string& request)
    {
        RawClient c(api.server->port());
        EXPECT_TRUE(c.connected());
        c.send(request);
        return c.readResponse();
    }
};

// --- reads and roles ------------------------------------------------------------------------------

TEST_F(ApiServerTest, HealthNeedsNoTokenAndReportsDegradation)
{
    auto r = api.client()->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto d = parseJson(r->body);
    EXPECT_STREQ(d["status"].GetString(), "ok");

    api.backend.healthReport.ok = false;
    api.backend.healthReport.reasons = { "table inet mudguard is missing" };
    api.backend.healthReport.lastReconcile = at(1'700'000'000'000);
    r = api.client()->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    d = parseJson(r->body);
    EXPECT_STREQ(d["status"].GetString(), "degraded");
    EXPECT_STREQ(d["reasons"][0].GetString(), "table inet mudguard is missing");
    EXPECT_STREQ(d["last-reconcile"].GetString(), "2023-11-14T22:13:20.000Z");
}

TEST_F(ApiServerTest, BothRolesReadTheDeviceList)
{
    for (const char* token : { kAuditorToken, kAdminToken }) {
        auto r = api.client(token)->Get("/api/v1/devices");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
        EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
        auto d = parseJson(r->body);
        ASSERT_TRUE(d.IsObject()) << r->body;
        EXPECT_EQ(d["count"].GetUint(), 2u);
        const auto& lamp = d["devices"][0];
        EXPECT_STREQ(lamp["mac"].GetString(), "02:00:00:00:00:01");
        EXPECT_STREQ(lamp["state"].GetString(), "enforced");
        EXPECT_TRUE(lamp["reason"].IsNull());
        EXPECT_STREQ(lamp["source"].GetString(), "dhcp");
        EXPECT_STREQ(lamp["mud-url"].GetString(), "https://mud.example.com/lamp.json");
        EXPECT_STREQ(lamp["addresses"][1].GetString(), "2001:db8::10");
        EXPECT_STREQ(lamp["policy"].GetString(), "p1");
        EXPECT_STREQ(lamp["created-at"].GetString(), "2023-11-14T22:13:20.000Z");
        const auto& camera = d["devices"][1];
        EXPECT_STREQ(camera["state"].GetString(), "failed");
        EXPECT_STREQ(camera["reason"].GetString(), "signature did not verify");
        EXPECT_TRUE(camera["policy"].IsNull());
    }
}

TEST_F(ApiServerTest, DeviceDetailCarriesEverySection)
{
    auto r = api.client(kAuditorToken)->Get("/api/v1/devices/02-00-00-00-00-01");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(api.backend.calls().back().arg, "02:00:00:00:00:01") << "the MAC reaches the backend canonical";
    auto d = parseJson(r->body);
    EXPECT_STREQ(d["mac"].GetString(), "02:00:00:00:00:01");
    EXPECT_EQ(d["history"].Size(), 2u);
    EXPECT_TRUE(d["history"][0]["from"].IsNull());
    EXPECT_STREQ(d["history"][1]["to"].GetString(), "enforced");
    EXPECT_STREQ(d["address-details"][0]["ip"].GetString(), "192.0.2.10");
    EXPECT_TRUE(d["pending-url-change"].IsNull());
    EXPECT_STREQ(d["mud"]["systeminfo"].GetString(), "A lamp");
    EXPECT_EQ(d["mud"]["cache-validity"].GetUint(), 48u);
    EXPECT_TRUE(d["mud"]["model-name"].IsNull());
    EXPECT_STREQ(d["mud"]["transparency"]["sboms"][0]["url"].GetString(), "https://mud.example.com/sbom.json");
    EXPECT_STREQ(d["signer"]["status"].GetString(), "verified");
    EXPECT_STREQ(d["signer"]["subject"].GetString(), "CN=Example MUD signer");
    EXPECT_STREQ(d["policy-summary"][0].GetString(), "may connect to www.example.com on tcp port 443");
    EXPECT_TRUE(contains(d["nft-rules"].GetString(), "tcp dport 443 accept"));
    EXPECT_EQ(d["counters"]["aces"][0]["packets"].GetUint64(), 12u);
    EXPECT_EQ(d["counters"]["drops"]["bytes"].GetUint64(), 180u);
    EXPECT_STREQ(d["violations"][0]["peer"].GetString(), "198.51.100.7");
    EXPECT_EQ(d["violations"][0]["port"].GetUint(), 23u);
}

TEST_F(ApiServerTest, UnknownMacIs404AndBadMacIs400WithoutCallingTheBackend)
{
    auto r = api.client(kAuditorToken)->Get("/api/v1/devices/02:00:00:00:00:99");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(errorCode(r->body), "not-found");
    EXPECT_TRUE(contains(r->body, "no device with MAC 02:00:00:00:00:99")) << r->body;

    auto before = api.backend.callCount();
    for (const char* bad : { "/api/v1/devices/02:00:00:00:00", "/api/v1/devices/zz:00:00:00:00:01",
             "/api/v1/devices/02:00:00:00:00:01:03", "/api/v1/devices/%3Cscript%3E" }) {
        r = api.client(kAuditorToken)->Get(bad);
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->status, 400) << bad;
        EXPECT_EQ(errorCode(r->body), "bad-request") << r->body;
    }
    r = api.client(kAdminToken)->Post("/api/v1/devices/nonsense/quarantine", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(api.backend.callCount(), before);
}

TEST_F(ApiServerTest, PoliciesListDetailAndIdSyntax)
{
    auto r = api.client(kAuditorToken)->Get("/api/v1/policies");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    auto d = parseJson(r->body);
    EXPECT_EQ(d["count"].GetUint(), 1u);
    EXPECT_STREQ(d["policies"][0]["source"].GetString(), "fetched");
    EXPECT_STREQ(d["policies"][0]["devices"][0].GetString(), "02:00:00:00:00:01");
    EXPECT_STREQ(d["policies"][0]["signer"]["fingerprint"].GetString(), "ab12");

    r = api.client(kAuditorToken)->Get("/api/v1/policies/p1");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    d = parseJson(r->body);
    EXPECT_STREQ(d["rules"][0]["match"].GetString(), "tcp to www.example.com port 443");
    EXPECT_STREQ(d["rules"][0]["action"].GetString(), "accept");
    EXPECT_TRUE(contains(d["nft-rules"].GetString(), "chain pol_p1_from"));

    r = api.client(kAuditorToken)->Get("/api/v1/policies/nope");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    r = api.client(kAuditorToken)->Get("/api/v1/policies/" + std::string(65, 'a'));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    r = api.client(kAuditorToken)->Get("/api/v1/policies/a$b");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
}

TEST_F(ApiServerTest, EventsArePagedAndFiltered)
{
    auto r = api.client(kAuditorToken)->Get("/api/v1/events?since=1&limit=2&device=02:00:00:00:00:01");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto q = api.backend.lastQuery();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->since, 1);
    EXPECT_EQ(q->limit, 2u);
    EXPECT_EQ(q->device, "02:00:00:00:00:01");
    auto d = parseJson(r->body);
    ASSERT_EQ(d["events"].Size(), 2u);
    EXPECT_EQ(d["events"][0]["seq"].GetInt64(), 3);
    EXPECT_EQ(d["events"][1]["seq"].GetInt64(), 5);
    EXPECT_EQ(d["next"].GetInt64(), 5);
    EXPECT_FALSE(d["more"].GetBool());

    r = api.client(kAuditorToken)->Get("/api/v1/events?limit=2");
    ASSERT_TRUE(r);
    d = parseJson(r->body);
    EXPECT_EQ(d["next"].GetInt64(), 2);
    EXPECT_TRUE(d["more"].GetBool());
    ASSERT_TRUE(d["events"][1]["detail"].IsObject()) << "the stored detail is embedded as JSON";
    EXPECT_STREQ(d["events"][1]["detail"]["policy"].GetString(), "p1");
    EXPECT_EQ(api.backend.lastQuery()->since, 0);
    EXPECT_EQ(api.backend.lastQuery()->limit, 2u);

    r = api.client(kAuditorToken)->Get("/api/v1/events");
    ASSERT_TRUE(r);
    EXPECT_EQ(api.backend.lastQuery()->limit, 100u) << "the default page";
}

TEST_F(ApiServerTest, BadEventQueriesAre400)
{
    for (const char* q : { "?limit=0", "?limit=1001", "?limit=abc", "?since=-1", "?since=99999999999999999999",
             "?device=nope", "?sinse=3", "?since=1&since=2", "?limit=" }) {
        auto r = api.client(kAuditorToken)->Get(std::string("/api/v1/events") + q);
        ASSERT_TRUE(r) << q;
        EXPECT_EQ(r->status, 400) << q << " " << r->body;
        EXPECT_EQ(errorCode(r->body), "bad-request") << q;
    }
    auto r = api.client(kAuditorToken)->Get("/api/v1/devices?verbose=1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << "no query parameters outside /events";
}

// --- tokens and roles -----------------------------------------------------------------------------

TEST_F(ApiServerTest, MissingOrWrongTokenIs401)
{
    auto r = api.client()->Get("/api/v1/devices");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"mudguard\"");
    auto d = parseJson(r->body);
    EXPECT_EQ(d["status"].GetInt(), 401);
    EXPECT_STREQ(d["error"].GetString(), "unauthorized");
    EXPECT_TRUE(d["message"].IsString());

    r = api.client("mg_not-a-token")->Get("/api/v1/devices");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_TRUE(contains(r->get_header_value("WWW-Authenticate"), "invalid_token"));

    httplib::Headers basic = { { "Authorization", "Basic YWRtaW46YWRtaW4=" } };
    r = api.client()->Get("/api/v1/devices", basic);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    httplib::Headers twice
        = { { "Authorization", std::string("Bearer ") + kAuditorToken }, { "Authorization", "Bearer x" } };
    r = api.client()->Get("/api/v1/devices", twice);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    httplib::Headers lower = { { "Authorization", std::string("bearer ") + kAuditorToken } };
    r = api.client()->Get("/api/v1/devices", lower);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "the scheme is case-insensitive";

    EXPECT_EQ(countCalls("devices"), 1u);
    for (const auto& line : api.logLines()) {
        EXPECT_FALSE(contains(line, "mg_not-a-token")) << line;
        EXPECT_FALSE(contains(line, kAuditorToken)) << line;
    }
    EXPECT_TRUE(logged(
        [](const std::string& l) { return contains(l, "<4>api: API_AUTH_FAILED") && contains(l, "status=401"); }));
}

TEST_F(ApiServerTest, AuditorCannotUseAdminEndpoints)
{
    const std::string mac = "/api/v1/devices/02:00:00:00:00:01";
    std::vector<std::pair<std::string, std::string>> admin = { { "POST", "/api/v1/devices" }, { "DELETE", mac },
        { "POST", mac + "/refresh" }, { "POST", mac + "/quarantine" }, { "POST", mac + "/release" },
        { "POST", "/api/v1/signers/mud.example.com/accept" }, { "POST", "/api/v1/config/reload" } };
    auto c = api.client(kAuditorToken);
    for (const auto& [method, path] : admin) {
        auto r = method == "POST"
            ? c->Post(path, R"({"mac":"02:00:00:00:00:05","mud-url":"https://a.example/x"})", "application/json")
            : c->Delete(path);
        ASSERT_TRUE(r) << path;
        EXPECT_EQ(r->status, 403) << method << " " << path;
        EXPECT_EQ(errorCode(r->body), "forbidden");
        EXPECT_TRUE(contains(r->body, "audit-team")) << "names the token, never its secret";
    }
    EXPECT_EQ(api.backend.callCount(), 0u);
}

TEST_F(ApiServerTest, MetricsNeedAnAuditorToken)
{
    auto r = api.client()->Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = api.client(kAuditorToken)->Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), Metrics::kContentType);
    EXPECT_TRUE(contains(r->body, "# TYPE mudguard_devices gauge\n")) << r->body;
    EXPECT_TRUE(contains(r->body, "mudguard_api_requests_total{route=\"/metrics\",method=\"GET\",status=\"401\"} 1\n"))
        << r->body;
}

TEST_F(ApiServerTest, ReplacedTokensApplyToTheNextRequest)
{
    api.server->setTokens({ configuredToken("new-team", "mg_fresh", ApiRole::Auditor) });
    auto r = api.client(kAuditorToken)->Get("/api/v1/devices");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = api.client("mg_fresh")->Get("/api/v1/devices");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

// --- admin actions --------------------------------------------------------------------------------

TEST_F(ApiServerTest, RegisterWithUrlOrLocalFile)
{
    auto c = api.client(kAdminToken);
    auto r = c->Post("/api/v1/devices", R"({"mac":"02:00:00:00:00:0A","mud-url":"https://mud.example.com/x.json"})",
        "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    auto d = parseJson(r->body);
    EXPECT_STREQ(d["result"].GetString(), "done");
    EXPECT_TRUE(d["created"].GetBool());
    EXPECT_STREQ(d["device"]["mac"].GetString(), "02:00:00:00:00:0a");
    auto call = api.backend.calls().back();
    EXPECT_EQ(call.method, "register");
    EXPECT_EQ(call.arg, "02:00:00:00:00:0a");
    EXPECT_EQ(call.extra, "https://mud.example.com/x.json");
    EXPECT_EQ(call.actor, "netops");

    r = c->Post("/api/v1/devices",
        R"({"mac":"02:00:00:00:00:0b","mud-file":{"ietf-mud:mud":{"mud-version":1,"mud-url":"https://l.example/x"}}})",
        "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    call = api.backend.calls().back();
    auto doc = parseJson(call.extra);
    ASSERT_TRUE(doc.IsObject()) << call.extra;
    EXPECT_EQ(doc["ietf-mud:mud"]["mud-version"].GetInt(), 1);

    r = c->Post(
        "/api/v1/devices", R"({"mac":"02:00:00:00:00:0c","mud-file":"{\"ietf-mud:mud\":{}}"})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(api.backend.calls().back().extra, R"({"ietf-mud:mud":{}})") << "a document given as text is kept as is";

    EXPECT_TRUE(logged([](const std::string& l) {
        return contains(l, "<6>api: ADMIN_ACTION admin action action=register") && contains(l, "token=\"netops\"");
    }));
}

TEST_F(ApiServerTest, RegisterRequestsAreChecked)
{
    auto c = api.client(kAdminToken);
    struct Case {
        std::string body, code;
    };
    const std::vector<Case> cases = {
        { R"({"mud-url":"https://a.example/x"})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a"})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-url":"https://a.example/x","mud-file":{}})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-url":"http://a.example/x"})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-url":"https://user@a.example/x"})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-url":"https://a.example/)" + std::string(250, 'x') + "\"}",
            "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-url":"https://a.example/x","extra":1})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-file":12})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-file":"[1]"})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mud-file":"{\"ietf-mud:mud\":"})", "invalid-json" },
        { R"({"mac":"02:00:00:00:00:0a","mud-file":")" + std::string(40, '[') + std::string(40, ']') + "\"}",
            "invalid-json" },
        { R"({"mac":12,"mud-url":"https://a.example/x"})", "bad-request" },
        { R"({"mac":"02:00:00:00:00:0a","mac":"02:00:00:00:00:0b","mud-url":"https://a.example/x"})", "invalid-json" },
        { R"({"mac":"02:00:00:00:00:0a",)", "invalid-json" },
        { R"(["02:00:00:00:00:0a"])", "invalid-json" },
        { std::string(40, '[') + std::string(40, ']'), "invalid-json" },
        { "{\"mac\":\"\xff\xfe\",\"mud-url\":\"https://a.example/x\"}", "invalid-json" },
        { R"({"mac":"02:00:00:00:00:0a"} trailing)", "invalid-json" },
        { std::string("{\"mac\":\"02:00:00:00:00:0a\"}\0{}", 30), "invalid-json" },
        { "", "bad-request" },
    };
    for (const auto& k : cases) {
        auto r = c->Post("/api/v1/devices", k.body, "application/json");
        ASSERT_TRUE(r) << k.body;
        EXPECT_EQ(r->status, 400) << k.body << " -> " << r->body;
        EXPECT_EQ(errorCode(r->body), k.code) << k.body << " -> " << r->body;
    }
    EXPECT_EQ(countCalls("register"), 0u);
}

TEST_F(ApiServerTest, InvalidMudFileIs422WithDiagnostics)
{
    api.backend.failNext = [] {
        mudparser::Diagnostic d;
        d.code = "cache-validity-range";
        d.message = "cache-validity 480 is out of range 1..168 hours";
        d.path = "/ietf-mud:mud/cache-validity";
        d.line = 6;
        d.column = 23;
        throw api::InvalidMud("the MUD file is not valid", { d }, "https://l.example/x");
    };
    auto r = api.client(kAdminToken)
                 ->Post("/api/v1/devices", R"({"mac":"02:00:00:00:00:0b","mud-file":{"ietf-mud:mud":{}}})",
                     "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422);
    auto d = parseJson(r->body);
    EXPECT_STREQ(d["error"].GetString(), "invalid-mud");
    EXPECT_STREQ(d["mud-url"].GetString(), "https://l.example/x");
    ASSERT_EQ(d["diagnostics"].Size(), 1u);
    EXPECT_STREQ(d["diagnostics"][0]["code"].GetString(), "cache-validity-range");
    EXPECT_STREQ(d["diagnostics"][0]["severity"].GetString(), "error");
    EXPECT_EQ(d["diagnostics"][0]["line"].GetUint(), 6u);
    EXPECT_STREQ(d["diagnostics"][0]["path"].GetString(), "/ietf-mud:mud/cache-validity");
}

TEST_F(ApiServerTest, DeviceActionsMapOutcomesAndErrors)
{
    auto c = api.client(kAdminToken);
    const std::string base = "/api/v1/devices/02:00:00:00:00:01";

    auto r = c->Post(base + "/refresh", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
    EXPECT_STREQ(parseJson(r->body)["result"].GetString(), "accepted");

    r = c->Post(base + "/quarantine", R"({"reason":"talks to strangers"})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(api.backend.calls().back().extra, "talks to strangers");
    r = c->Post(base + "/quarantine", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "the reason is optional";
    r = c->Post(base + "/quarantine", R"({"reason":7})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);

    r = c->Post(base + "/release", "{}", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_STREQ(parseJson(r->body)["result"].GetString(), "unchanged");
    r = c->Post(base + "/release", R"({"force":true})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << "bodies of body-less actions may only be {}";

    r = c->Delete(base);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = c->Delete("/api/v1/devices/02:00:00:00:00:77");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);

    api.backend.failNext = [] { throw api::Conflict("the device has no MUD URL to refresh"); };
    r = c->Post(base + "/refresh", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 409);
    EXPECT_EQ(errorCode(r->body), "conflict");
    EXPECT_TRUE(contains(r->body, "no MUD URL to refresh"));
}

TEST_F(ApiServerTest, AcceptSignerAndReloadConfig)
{
    auto c = api.client(kAdminToken);
    auto r = c->Post("/api/v1/signers/MUD.Example.com:8443/accept", R"({"signer":"ab12"})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    auto call = api.backend.calls().back();
    EXPECT_EQ(call.arg, "mud.example.com:8443");
    EXPECT_EQ(call.extra, "ab12");
    r = c->Post("/api/v1/signers/mud.example.com/accept", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(api.backend.calls().back().extra, "<only>");
    for (const char* bad : { "-bad.example", "a_b.example", "host:0", "host:70000", "[::zz]" }) {
        r = c->Post(std::string("/api/v1/signers/") + bad + "/accept", "", "application/json");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << bad;
    }

    r = c->Post("/api/v1/config/reload", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    api.backend.failNext = [] {
        mudparser::Diagnostic d;
        d.code = "config-value";
        d.message = "port 0 is not allowed";
        throw api::InvalidConfig("the new configuration is invalid; the running one stays", { d });
    };
    r = c->Post("/api/v1/config/reload", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422);
    auto d = parseJson(r->body);
    EXPECT_STREQ(d["error"].GetString(), "invalid-config");
    EXPECT_FALSE(d.HasMember("mud-url"));
    EXPECT_STREQ(d["diagnostics"][0]["message"].GetString(), "port 0 is not allowed");
}

TEST_F(ApiServerTest, BackendFailuresBecome503And500WithoutInternals)
{
    api.backend.failNext = [] { throw api::Unavailable("the daemon is busy; try again"); };
    auto r = api.client(kAuditorToken)->Get("/api/v1/devices");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(errorCode(r->body), "unavailable");
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");

    api.backend.failNext = [] { throw std::runtime_error("sqlite: disk I/O error at /var/lib/secret"); };
    r = api.client(kAuditorToken)->Get("/api/v1/devices");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(errorCode(r->body), "internal");
    EXPECT_FALSE(contains(r->body, "secret"));
    for (const auto& [k, v] : r->headers)
        EXPECT_FALSE(contains(v, "secret")) << k;
    auto lines = api.logLines();
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
        return contains(l, "INTERNAL_ERROR") && contains(l, "disk I/O error");
    })) << "the reason goes to the log";
}

// --- paths, methods and malformed requests --------------------------------------------------------

TEST_F(ApiServerTest, UnknownPathsAndMethods)
{
    auto c = api.client(kAdminToken);
    for (const char* path : { "/", "/api", "/api/v1", "/api/v1/device", "/api/v2/devices", "/api/v1/devices/",
             "/api/v1/devices/02:00:00:00:00:01/extra", "/healthz/", "/../etc/passwd" }) {
        auto r = c->Get(path);
        ASSERT_TRUE(r) << path;
        EXPECT_EQ(r->status, 404) << path;
        EXPECT_EQ(errorCode(r->body), "not-found") << path;
    }
    auto r = c->Put("/api/v1/devices", "{}", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(errorCode(r->body), "method-not-allowed");
    EXPECT_EQ(r->get_header_value("Allow"), "GET, POST");
    r = c->Delete("/api/v1/policies/p1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->get_header_value("Allow"), "GET");
    r = c->Post("/healthz", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    RawClient headClient(api.server->port());
    headClient.send("HEAD /api/v1/devices HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string head = headClient.readHeadOnly();
    EXPECT_EQ(statusOf(head), 405) << head;
    std::string options = raw("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(statusOf(options), 400) << options;
    std::string unknown = raw("BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(statusOf(unknown), 400) << unknown;
    EXPECT_EQ(errorCode(bodyOf(unknown)), "bad-request") << "the library's own errors are JSON too";
}

TEST_F(ApiServerTest, OversizedBodyIsRefusedBeforeItIsRead)
{
    RawClient c(api.server->port());
    // Only the head is sent: the answer must not wait for 10 MB that never come.
    c.send(std::string("POST /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kAdminToken
        + "\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n");
    std::string r = c.readResponse(5s);
    EXPECT_EQ(statusOf(r), 413) << r;
    EXPECT_EQ(errorCode(bodyOf(r)), "payload-too-large");
    EXPECT_TRUE(contains(r, "Connection: close"));
    EXPECT_TRUE(c.closedByPeer(5s));

    // Just over the limit with the whole body sent, through a normal client.
    auto big = api.client(kAdminToken)->Post("/api/v1/devices", std::string(8 * 1024 + 1, ' '), "application/json");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->status, 413);
    EXPECT_EQ(countCalls("register"), 0u);
}

TEST_F(ApiServerTest, ChunkedBodiesAreRefused)
{
    RawClient c(api.server->port());
    c.send(std::string("POST /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kAdminToken
        + "\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"mac\":\"02:00:00\r\n0\r\n\r\n");
    std::string r = c.readResponse(5s);
    EXPECT_EQ(statusOf(r), 411) << r;
    EXPECT_EQ(errorCode(bodyOf(r)), "length-required");
    EXPECT_EQ(countCalls("register"), 0u);
}

TEST_F(ApiServerTest, ContentLengthShorterThanTheBody)
{
    RawClient c(api.server->port());
    const std::string body = R"({"mac":"02:00:00:00:00:0a","mud-url":"https://a.example/x"})";
    c.send(std::string("POST /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kAdminToken
        + "\r\nContent-Length: 10\r\n\r\n" + body + "\r\n\r\n");
    std::string first = c.readResponse(5s);
    EXPECT_EQ(statusOf(first), 400) << first;
    EXPECT_EQ(errorCode(bodyOf(first)), "invalid-json") << "only the declared 10 bytes are the body";
    // The rest is not a request: the server answers it as such and closes.
    std::string second = c.readResponse(5s);
    EXPECT_EQ(statusOf(second), 400) << second;
    EXPECT_TRUE(c.closedByPeer(5s));
    EXPECT_EQ(countCalls("register"), 0u);
}

TEST_F(ApiServerTest, ContentLengthLongerThanTheBodyTimesOut)
{
    RawClient c(api.server->port());
    c.send(std::string("POST /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kAdminToken
        + "\r\nContent-Length: 100\r\n\r\n{\"mac\":");
    // The server waits at most its timeout (1.5 s here) for the rest, then answers and closes.
    std::string r = c.readResponse(10s);
    EXPECT_EQ(statusOf(r), 400) << r;
    EXPECT_TRUE(c.closedByPeer(5s));
    EXPECT_EQ(countCalls("register"), 0u);
    EXPECT_TRUE(
        logged([](const std::string& l) { return contains(l, "route=/api/v1/devices") && contains(l, "status=400"); }));
}

TEST_F(ApiServerTest, BodylessPostWithoutContentLengthIsServedAtOnce)
{
    RawClient c(api.server->port());
    c.send(std::string("POST /api/v1/devices/02:00:00:00:00:01/refresh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
        + kAdminToken + "\r\n\r\n");
    // Without the fix the library would wait for the peer to close the connection.
    std::string r = c.readResponse(1s);
    EXPECT_EQ(statusOf(r), 202) << r;
}

TEST_F(ApiServerTest, MalformedHeadsAreRefused)
{
    struct Case {
        std::string request;
        int status;
        std::string code;
    };
    const std::string big(5000, 'a');
    const std::vector<Case> cases = {
        { "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431, "headers-too-large" },
        { "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big, 431, "headers-too-large" },
        { "GET /" + std::string(600, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri-too-long" },
        { "GET /healthz HTTP/1.1\nHost: x\r\n\r\n", 400, "bad-request" },
        { "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "bad-request" },
        { "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 400, "bad-request" },
        { "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad-request" },
        { "GET /healthz HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, "bad-request" },
        { "GET /healthz HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400, "bad-request" },
        { "GET /api/v1/devices/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad-request" },
        { "GET /healthz%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad-request" },
        { "POST /api/v1/devices HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n{}{}{", 400, "bad-request" },
        { "POST /api/v1/devices HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad-request" },
    };
    for (const auto& k : cases) {
        std::string r = raw(k.request);
        EXPECT_EQ(statusOf(r), k.status) << k.request.substr(0, 80) << " -> " << r.substr(0, 200);
        EXPECT_EQ(errorCode(bodyOf(r)), k.code) << k.request.substr(0, 80);
    }
    std::string many = "GET /healthz HTTP/1.1\r\n";
    for (int i = 0; i < 21; ++i)
        many += "X-" + std::to_string(i) + ": y\r\n";
    std::string r = raw(many + "\r\n");
    EXPECT_EQ(statusOf(r), 431) << r;
    EXPECT_EQ(api.backend.callCount(), 0u);
}

TEST_F(ApiServerTest, SlowHeadsEndWith408)
{
    RawClient c(api.server->port());
    c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n"); // and never the end of the head
    std::string r = c.readResponse(10s);
    EXPECT_EQ(statusOf(r), 408) << r;
    EXPECT_EQ(errorCode(bodyOf(r)), "request-timeout");
    EXPECT_TRUE(c.closedByPeer(5s));
}

TEST_F(ApiServerTest, RangeIsIgnored)
{
    std::string r = raw(std::string("GET /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kAuditorToken
        + "\r\nRange: bytes=0-3\r\n\r\n");
    EXPECT_EQ(statusOf(r), 200) << r;
    EXPECT_FALSE(contains(r, "Content-Range"));
    EXPECT_TRUE(parseJson(bodyOf(r)).IsObject()) << "the whole body, not a slice";
}

TEST_F(ApiServerTest, KeepAliveServesSeveralRequestsOnOneConnection)
{
    RawClient c(api.server->port());
    const std::string get = std::string("GET /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
        + kAuditorToken + "\r\n\r\n";
    // Two pipelined requests and a third after the answers.
    c.send(get + get);
    EXPECT_EQ(statusOf(c.readResponse(5s)), 200);
    EXPECT_EQ(statusOf(c.readResponse(5s)), 200);
    c.send(get);
    EXPECT_EQ(statusOf(c.readResponse(5s)), 200);
    EXPECT_EQ(countCalls("policies"), 3u);
}

TEST_F(ApiServerTest, EveryRequestIsCountedAndLoggedOnce)
{
    auto c = api.client(kAuditorToken);
    ASSERT_TRUE(c->Get("/api/v1/devices"));
    ASSERT_TRUE(c->Get("/api/v1/devices/02:00:00:00:00:01"));
    ASSERT_TRUE(c->Get("/api/v1/devices/02:00:00:00:00:09"));
    ASSERT_TRUE(api.client()->Get("/nowhere"));
    raw("GET /healthz HTTP/1.1\r\nX: \x01\r\n\r\n");

    // A request is recorded after its answer is written, so the client may see the answer first.
    std::vector<std::string> lines;
    ASSERT_TRUE(waitFor(
        [&] {
            lines = api.logLines();
            return std::count_if(lines.begin(), lines.end(), [](const auto& l) { return contains(l, " status="); })
                >= 5;
        },
        10s))
        << "five requests, five log lines";
    auto count = [&](const std::string& a, const std::string& b) {
        return std::count_if(
            lines.begin(), lines.end(), [&](const auto& l) { return contains(l, a) && contains(l, b); });
    };
    EXPECT_EQ(count("route=/api/v1/devices ", "status=200"), 1);
    EXPECT_EQ(count("route=\"/api/v1/devices/{mac}\"", "status=200"), 1);
    EXPECT_EQ(count("route=\"/api/v1/devices/{mac}\"", "status=404"), 1);
    EXPECT_EQ(count("route=unmatched", "status=404"), 1);
    EXPECT_EQ(count("route=unmatched", "status=400"), 1);
    EXPECT_EQ(count("api:", "token=\"audit-team\""), 3);

    std::string m = api.registry.render();
    EXPECT_TRUE(
        contains(m, "mudguard_api_requests_total{route=\"/api/v1/devices/{mac}\",method=\"GET\",status=\"404\"} 1"))
        << m;
    EXPECT_TRUE(contains(m, "mudguard_api_requests_total{route=\"unmatched\",method=\"other\",status=\"400\"} 1"))
        << "a head refused before its method was read";
    EXPECT_TRUE(contains(m, "mudguard_api_request_duration_seconds_count{route=\"/api/v1/devices\"} 1")) << m;
}

// --- connection limits ----------------------------------------------------------------------------

TEST(ApiConnectionLimit, ConnectionsBeyondTheLimitAreRefusedAtOnce)
{
    auto o = ApiUnderTest::defaults();
    o.maxConnections = 2;
    o.threads = 2;
    o.timeout = 30s;
    o.keepAliveTimeout = 30s;
    ApiUnderTest api(o);
    const auto port = api.server->port();
    const std::string health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    // Two connections, each served once and then idle: both hold their place.
    auto a = std::make_unique<RawClient>(port);
    RawClient b(port);
    a->send(health);
    b.send(health);
    ASSERT_EQ(statusOf(a->readResponse(5s)), 200);
    ASSERT_EQ(statusOf(b.readResponse(5s)), 200);

    RawClient c(port);
    std::string r = c.readUntilClosed(5s);
    EXPECT_EQ(statusOf(r), 503) << r;
    EXPECT_EQ(errorCode(bodyOf(r)), "unavailable");
    EXPECT_TRUE(r.find("Retry-After: 1") != std::string::npos);
    EXPECT_EQ(api.metrics.apiConnectionsRefused().value(), 1.0);

    // Once one leaves, a new connection is served.
    a.reset();
    bool served = waitFor(
        [&] {
            RawClient d(port);
            d.send(health);
            return statusOf(d.readResponse(5s)) == 200;
        },
        10s);
    EXPECT_TRUE(served);
}

TEST(ApiConnectionLimit, IdleKeepAliveGivesWayToWaitingConnections)
{
    auto o = ApiUnderTest::defaults();
    o.maxConnections = 4;
    o.threads = 1;
    o.timeout = 30s;
    o.keepAliveTimeout = 30s;
    ApiUnderTest api(o);
    const auto port = api.server->port();
    const std::string get = std::string("GET /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
        + kAuditorToken + "\r\n\r\n";

    api.backend.close();
    RawClient first(port);
    first.send(get);
    ASSERT_TRUE(waitFor([&] { return api.backend.waitingAtGate() == 1; }, 10s));
    RawClient second(port); // queued behind the only worker
    second.send(get);
    api.backend.open();

    EXPECT_EQ(statusOf(first.readResponse(10s)), 200);
    // The worker leaves the idle first connection for the waiting one, long before the 30 s
    // keep-alive would end.
    EXPECT_EQ(statusOf(second.readResponse(10s)), 200);
    EXPECT_TRUE(first.closedByPeer(10s));
}

} // namespace
} // namespace mudguard::test
