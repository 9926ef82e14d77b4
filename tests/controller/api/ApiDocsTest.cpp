// docs/openapi.yaml and docs/api.md describe exactly the routes the server registers, with their
// roles, and every error code the server can answer with.
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "mudguard/controller/ApiServer.h"
#include "mudguard/controller/Metrics.h"

#include "TestSupport.h"

namespace mudguard::controller {
namespace {

using test::readFile;
using test::sourceDir;

struct Operation {
    std::string method, path, role;
    bool operator<(const Operation& o) const { return std::tie(method, path) < std::tie(o.method, o.path); }
};

/// The operations under `paths:` of an OpenAPI file, read by indentation (two spaces per level):
/// a path at level 1, its methods at level 2, their x-mudguard-role at level 3.
std::vector<Operation> openapiOperations(const std::string& yaml)
{
    std::vector<Operation> ops;
    std::istringstream in(yaml);
    std::string line, path;
    bool inPaths = false;
    static const std::set<std::string> kMethods
        = { "get", "put", "post", "delete", "patch", "head", "options", "trace" };
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        if (line[0] != ' ') {
            inPaths = line == "paths:";
            continue;
        }
        if (!inPaths)
            continue;
        std::size_t indent = line.find_first_not_of(' ');
        std::string key = line.substr(indent, line.find(':', indent) - indent);
        if (indent == 2) {
            path = key;
        } else if (indent == 4 && kMethods.count(key)) {
            std::string method = key;
            for (auto& c : method)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            ops.push_back({ method, path, "" });
        } else if (indent == 6 && key == "x-mudguard-role" && !ops.empty()) {
            ops.back().role = line.substr(line.find(':') + 2);
        }
    }
    return ops;
}

std::string roleName(const ApiRoute& r) { return r.role ? toString(*r.role) : "none"; }

TEST(ApiDocs, OpenApiListsExactlyTheRegisteredRoutes)
{
    auto ops = openapiOperations(readFile(sourceDir() / "docs/openapi.yaml"));
    ASSERT_FALSE(ops.empty());
    std::map<std::pair<std::string, std::string>, std::string> documented, served;
    for (const auto& o : ops)
        EXPECT_TRUE(documented.emplace(std::make_pair(o.method, o.path), o.role).second) << o.method << " " << o.path;
    for (const auto& r : ApiServer::routes())
        served.emplace(std::make_pair(std::string(r.method), std::string(r.path)), roleName(r));
    for (const auto& [k, role] : served) {
        auto it = documented.find(k);
        EXPECT_NE(it, documented.end()) << k.first << " " << k.second << " is served but not in openapi.yaml";
        if (it != documented.end()) {
            EXPECT_EQ(it->second, role) << "x-mudguard-role of " << k.first << " " << k.second;
        }
    }
    for (const auto& [k, role] : documented)
        EXPECT_TRUE(served.count(k)) << k.first << " " << k.second << " is in openapi.yaml but not served";
}

TEST(ApiDocs, ApiMdListsEveryRouteWithItsRole)
{
    const std::string md = readFile(sourceDir() / "docs/api.md");
    for (const auto& r : ApiServer::routes()) {
        std::string row = "| `" + std::string(r.method) + " " + std::string(r.path) + "` | " + roleName(r) + " |";
        EXPECT_NE(md.find(row), std::string::npos) << "docs/api.md lacks the table row " << row;
    }
}

TEST(ApiDocs, EveryErrorCodeIsDocumented)
{
    // The codes the server and its transport produce (ApiServer.cpp, RequestHead.cpp, Transport.cpp).
    const std::vector<std::pair<int, std::string>> codes
        = { { 400, "bad-request" }, { 400, "invalid-json" }, { 401, "unauthorized" }, { 403, "forbidden" },
              { 404, "not-found" }, { 405, "method-not-allowed" }, { 408, "request-timeout" }, { 409, "conflict" },
              { 411, "length-required" }, { 413, "payload-too-large" }, { 414, "uri-too-long" }, { 422, "invalid-mud" },
              { 422, "invalid-config" }, { 431, "headers-too-large" }, { 500, "internal" }, { 503, "unavailable" } };
    const std::string md = readFile(sourceDir() / "docs/api.md");
    const std::string yaml = readFile(sourceDir() / "docs/openapi.yaml");
    for (const auto& [status, code] : codes) {
        std::string row = "| " + std::to_string(status) + " | `" + code + "` |";
        EXPECT_NE(md.find(row), std::string::npos) << "docs/api.md lacks " << row;
        EXPECT_NE(yaml.find("            - " + code + "\n"), std::string::npos)
            << "openapi.yaml Error enum lacks " << code;
    }
    // And the sources produce no code missing from the list.
    std::set<std::string> known, seen;
    for (const auto& c : codes)
        known.insert(c.second);
    for (const char* file : { "controller/src/api/ApiServer.cpp", "controller/src/api/RequestHead.cpp",
             "controller/src/api/Transport.cpp" }) {
        const std::string src = readFile(sourceDir() / file);
        for (std::size_t pos = 0; (pos = src.find(", \"", pos)) != std::string::npos; ++pos) {
            // `{ 404, "not-found", ...` and `refuse(431, "headers-too-large", ...`
            std::size_t end = src.find('"', pos + 3);
            std::string code = src.substr(pos + 3, end - pos - 3);
            bool statusBefore = pos >= 3 && std::isdigit(static_cast<unsigned char>(src[pos - 1]))
                && std::isdigit(static_cast<unsigned char>(src[pos - 2]))
                && std::isdigit(static_cast<unsigned char>(src[pos - 3]));
            if (statusBefore && code.find(' ') == std::string::npos) {
                seen.insert(code);
                EXPECT_TRUE(known.count(code)) << file << " answers with the undocumented code \"" << code << "\"";
            }
        }
    }
    EXPECT_GE(seen.size(), 12u) << "the scan of the sources found too few codes to be trusted";
}

TEST(ApiDocs, ApiMdListsEveryMetricWithItsType)
{
    Metrics registry;
    MudguardMetrics metrics(registry, "1.0");
    const std::string md = readFile(sourceDir() / "docs/api.md");
    std::istringstream rendered(registry.render());
    std::string line;
    std::set<std::string> families;
    while (std::getline(rendered, line)) {
        // "# TYPE mudguard_devices gauge"
        if (line.rfind("# TYPE ", 0) != 0)
            continue;
        std::istringstream words(line.substr(7));
        std::string name, type;
        words >> name >> type;
        families.insert(name);
        std::string row = "| `" + name + "` | " + type + " |";
        EXPECT_NE(md.find(row), std::string::npos) << "docs/api.md lacks the metrics row " << row;
    }
    EXPECT_GE(families.size(), 10u) << "the registry rendered fewer families than mudguard registers";
    // And the table names no metric that does not exist.
    for (std::size_t pos = 0; (pos = md.find("| `mudguard_", pos)) != std::string::npos; ++pos) {
        std::string name = md.substr(pos + 3, md.find('`', pos + 3) - pos - 3);
        EXPECT_TRUE(families.count(name)) << "docs/api.md lists " << name << ", which is not registered";
    }
}

} // namespace
} // namespace mudguard::controller
