// Unit tests: URL parsing and resolution, the DHCP/LLDP MUD string, addresses and the SSRF guard,
// RFC 3339 times, the signature scan, and the cache's on-disk form.

#include "mudguard/mudparser/Url.h"

#include <gtest/gtest.h>

#include "mudguard/mudparser/AddressGuard.h"
#include "mudguard/mudparser/MudCache.h"
#include "mudguard/mudparser/MudString.h"
#include "mudguard/mudparser/TimeText.h"
#include "mudguard/mudparser/TrustPipeline.h"

using namespace mudguard::mudparser;

namespace {

std::string refusal(std::string_view text)
{
    auto r = Url::parse(text);
    return r ? std::string("accepted: ") + r.url->str() : r.code;
}

std::string normalised(std::string_view text)
{
    auto r = Url::parse(text);
    return r ? r.url->str() : "refused: " + r.code + ": " + r.message;
}

} // namespace

TEST(Url, AcceptsAndNormalises)
{
    EXPECT_EQ(normalised("https://example.com/dev"), "https://example.com/dev");
    EXPECT_EQ(normalised("HTTPS://Example.COM:443/Dev"), "https://example.com/Dev");
    EXPECT_EQ(normalised("https://example.com"), "https://example.com/");
    EXPECT_EQ(normalised("https://example.com:8443/a/./b/../c?x=1&y"), "https://example.com:8443/a/c?x=1&y");
    EXPECT_EQ(normalised("https://192.0.2.1/x"), "https://192.0.2.1/x");
    EXPECT_EQ(normalised("https://[2001:DB8::1]:444/x"), "https://[2001:db8::1]:444/x");
    EXPECT_EQ(normalised("https://mud.example.com/p%20q"), "https://mud.example.com/p%20q");
    auto u = Url::parse("https://mud.example.com:8443/a/b?q").url;
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host(), "mud.example.com");
    EXPECT_EQ(u->port(), 8443);
    EXPECT_EQ(u->target(), "/a/b?q");
    EXPECT_EQ(u->authority(), "mud.example.com:8443");
}

TEST(Url, RefusesWithAReason)
{
    EXPECT_EQ(refusal(""), "url-empty");
    EXPECT_EQ(refusal("http://example.com/x"), "url-scheme");
    EXPECT_EQ(refusal("ftp://example.com/x"), "url-scheme");
    EXPECT_EQ(refusal("example.com/x"), "url-syntax");
    EXPECT_EQ(refusal("https:example.com"), "url-syntax");
    EXPECT_EQ(refusal("https://user:pw@example.com/"), "url-userinfo");
    EXPECT_EQ(refusal("https://example.com/a b"), "url-syntax");
    EXPECT_EQ(refusal("https://example.com/a\tb"), "url-syntax");
    EXPECT_EQ(refusal("https://example.com/\xc3\xa9"), "url-syntax");
    EXPECT_EQ(refusal("https://example.com/a%zz"), "url-syntax");
    EXPECT_EQ(refusal("https://example.com/a%2"), "url-syntax");
    EXPECT_EQ(refusal("https://example.com/a{b}"), "url-syntax");
    EXPECT_EQ(refusal("https://example.com/x#frag"), "url-fragment");
    EXPECT_EQ(refusal("https:///x"), "url-host");
    EXPECT_EQ(refusal("https://exa_mple.com/"), "url-host");
    EXPECT_EQ(refusal("https://-bad.com/"), "url-host");
    EXPECT_EQ(refusal("https://a..b/"), "url-host");
    EXPECT_EQ(refusal("https://127.1/"), "url-host");
    EXPECT_EQ(refusal("https://0x7f.1/"), "url-host");
    EXPECT_EQ(refusal("https://2130706433/"), "url-host");
    EXPECT_EQ(refusal("https://[fe80::1%25eth0]/"), "url-host");
    EXPECT_EQ(refusal("https://[::1/"), "url-host");
    EXPECT_EQ(refusal("https://example.com:0/"), "url-port");
    EXPECT_EQ(refusal("https://example.com:65536/"), "url-port");
    EXPECT_EQ(refusal("https://example.com:/"), "url-port");
    EXPECT_EQ(refusal("https://example.com:44a/"), "url-port");
    EXPECT_EQ(refusal("https://" + std::string(64, 'a') + ".com/"), "url-host");
    EXPECT_EQ(refusal("https://example.com/" + std::string(Url::kMaxLength, 'a')), "url-too-long");
    auto r = Url::parse("https://example.com/a b");
    EXPECT_EQ(r.message, "a space at position 22 is not allowed in a URL (spaces must be percent-encoded)");
}

TEST(Url, ResolvesReferencesPerRfc3986)
{
    auto base = Url::parse("https://a.example/b/c/d;p?q").url;
    ASSERT_TRUE(base);
    auto resolve = [&](std::string_view ref) {
        auto r = base->resolve(ref);
        return r ? r.url->str() : "refused: " + r.code;
    };
    // The RFC 3986 section 5.4.1 examples that apply to https.
    EXPECT_EQ(resolve("g"), "https://a.example/b/c/g");
    EXPECT_EQ(resolve("./g"), "https://a.example/b/c/g");
    EXPECT_EQ(resolve("g/"), "https://a.example/b/c/g/");
    EXPECT_EQ(resolve("/g"), "https://a.example/g");
    EXPECT_EQ(resolve("//g"), "https://g/");
    EXPECT_EQ(resolve("?y"), "https://a.example/b/c/d;p?y");
    EXPECT_EQ(resolve("g?y"), "https://a.example/b/c/g?y");
    EXPECT_EQ(resolve(";x"), "https://a.example/b/c/;x");
    EXPECT_EQ(resolve(""), "https://a.example/b/c/d;p?q");
    EXPECT_EQ(resolve("."), "https://a.example/b/c/");
    EXPECT_EQ(resolve(".."), "https://a.example/b/");
    EXPECT_EQ(resolve("../g"), "https://a.example/b/g");
    EXPECT_EQ(resolve("../.."), "https://a.example/");
    EXPECT_EQ(resolve("../../../g"), "https://a.example/g");
    EXPECT_EQ(resolve("/./g"), "https://a.example/g");
    EXPECT_EQ(resolve("g."), "https://a.example/b/c/g.");
    EXPECT_EQ(resolve("g/../h"), "https://a.example/b/c/h");
    EXPECT_EQ(resolve("https://other.example/sig.p7s"), "https://other.example/sig.p7s");
    EXPECT_EQ(resolve("http://other.example/sig.p7s"), "refused: url-scheme");
    EXPECT_EQ(resolve("g#s"), "refused: url-fragment");
    EXPECT_EQ(resolve("g h"), "refused: url-syntax");
}

TEST(MudString, UrlEndsAtTheFirstSpace)
{
    auto r = parseMudString("https://mud.example.com/dev1 reserved text");
    ASSERT_TRUE(r) << r.message;
    EXPECT_EQ(r.url->str(), "https://mud.example.com/dev1");
    EXPECT_EQ(r.reserved, "reserved text");
    auto plain = parseMudString("https://mud.example.com/dev1");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain.reserved, "");
}

TEST(MudString, RefusesWithAReason)
{
    EXPECT_EQ(parseMudString("").code, "mudstring-empty");
    EXPECT_EQ(parseMudString(" https://x.example/").code, "mudstring-empty");
    EXPECT_EQ(parseMudString("http://mud.example.com/dev").code, "url-scheme");
    EXPECT_EQ(parseMudString(std::string("https://mud.example.com/\0x", 26)).code, "url-syntax");
    std::string longUrl = "https://mud.example.com/" + std::string(232, 'a'); // 256 octets
    EXPECT_EQ(parseMudString(longUrl).code, "mudstring-too-long");
    EXPECT_TRUE(parseMudString(longUrl.substr(0, 255)));
    EXPECT_EQ(parseMudString(longUrl).message, "the MUD string is 256 octets long; RFC 8520 allows at most 255");
    EXPECT_EQ(parseMudString("mud.example.com/dev").code, "url-syntax");
}

TEST(IpAddress, ParsesAndMatchesPrefixes)
{
    EXPECT_FALSE(IpAddress::parse("127.1"));
    EXPECT_FALSE(IpAddress::parse("1.2.3.4.5"));
    EXPECT_FALSE(IpAddress::parse("fe80::1%eth0"));
    EXPECT_EQ(IpAddress::parse("2001:DB8::1")->str(), "2001:db8::1");
    auto p = IpPrefix::parse("192.0.2.77/24");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->str(), "192.0.2.0/24");
    EXPECT_TRUE(p->contains(*IpAddress::parse("192.0.2.200")));
    EXPECT_FALSE(p->contains(*IpAddress::parse("192.0.3.1")));
    EXPECT_FALSE(p->contains(*IpAddress::parse("::ffff:192.0.2.1")));
    EXPECT_EQ(IpPrefix::parse("2001:db8::/33")->str(), "2001:db8::/33");
    EXPECT_FALSE(IpPrefix::parse("10.0.0.0/33"));
    EXPECT_FALSE(IpPrefix::parse("10.0.0.0/"));
    EXPECT_EQ(IpAddress::parse("::ffff:127.0.0.1")->embeddedV4()->str(), "127.0.0.1");
    EXPECT_EQ(IpAddress::parse("64:ff9b::10.0.0.1")->embeddedV4()->str(), "10.0.0.1");
}

TEST(AddressGuard, RefusesInternalAddressesByDefault)
{
    LocalNetworks local;
    local.ownAddresses.push_back(*IpAddress::parse("198.51.100.1"));
    local.lanNetworks.push_back(*IpPrefix::parse("192.168.7.0/24"));
    AddressGuard guard({}, local);
    auto why = [&](const char* a) { return guard.check(*IpAddress::parse(a)).value_or("allowed"); };
    EXPECT_EQ(why("203.0.113.9"), "allowed");
    EXPECT_EQ(why("2001:db8::9"), "allowed");
    EXPECT_EQ(why("127.0.0.1"), "127.0.0.1 is a loopback address");
    EXPECT_EQ(why("::1"), "::1 is a loopback address");
    EXPECT_EQ(why("169.254.1.1"), "169.254.1.1 is a link-local address");
    EXPECT_EQ(why("fe80::1"), "fe80::1 is a link-local address");
    EXPECT_EQ(why("224.0.0.251"), "224.0.0.251 is a multicast address");
    EXPECT_EQ(why("ff02::1"), "ff02::1 is a multicast address");
    EXPECT_EQ(why("0.0.0.0"), "0.0.0.0 is a unspecified address");
    EXPECT_EQ(why("::"), ":: is a unspecified address");
    EXPECT_EQ(why("255.255.255.255"), "255.255.255.255 is a reserved address");
    EXPECT_EQ(why("10.1.2.3"), "10.1.2.3 is a private-use address");
    EXPECT_EQ(why("fd00::1"), "fd00::1 is a private-use address");
    EXPECT_EQ(why("198.51.100.1"), "198.51.100.1 is one of the router's own addresses");
    EXPECT_EQ(why("192.168.7.20"), "192.168.7.20 is inside one of the router's LAN networks");
    EXPECT_EQ(why("::ffff:127.0.0.1"), "::ffff:127.0.0.1 is a loopback address");
    EXPECT_EQ(why("64:ff9b::c0a8:714"), "64:ff9b::c0a8:714 is inside one of the router's LAN networks");
}

TEST(AddressGuard, AllowlistAndUpdates)
{
    AddressPolicy policy;
    policy.allow.push_back(*IpPrefix::parse("127.0.0.0/8"));
    policy.allow.push_back(*IpPrefix::parse("192.168.7.10"));
    AddressGuard guard(policy);
    EXPECT_FALSE(guard.check(*IpAddress::parse("127.0.0.5")));
    EXPECT_FALSE(guard.check(*IpAddress::parse("::ffff:127.0.0.5")));
    EXPECT_TRUE(guard.check(*IpAddress::parse("::1")));
    EXPECT_TRUE(guard.check(*IpAddress::parse("192.168.7.11")));
    EXPECT_FALSE(guard.check(*IpAddress::parse("192.168.7.10")));

    // The daemon updates the local networks at run time.
    LocalNetworks local;
    local.lanNetworks.push_back(*IpPrefix::parse("203.0.113.0/24"));
    EXPECT_FALSE(guard.check(*IpAddress::parse("203.0.113.5")));
    guard.setLocalNetworks(local);
    EXPECT_EQ(guard.classify(*IpAddress::parse("203.0.113.5")), AddressClass::LanNetwork);
    EXPECT_TRUE(guard.check(*IpAddress::parse("203.0.113.5")));

    AddressPolicy open;
    open.refusePrivate = false;
    guard.setPolicy(open);
    EXPECT_FALSE(guard.check(*IpAddress::parse("10.0.0.1")));
    EXPECT_TRUE(guard.check(*IpAddress::parse("127.0.0.1")));
    open.allowAll = true;
    guard.setPolicy(open);
    EXPECT_FALSE(guard.check(*IpAddress::parse("127.0.0.1")));
}

TEST(AddressGuard, InterfacesIncludeLoopback)
{
    auto local = LocalNetworks::fromInterfaces();
    auto loopback = *IpAddress::parse("127.0.0.1");
    EXPECT_NE(std::find(local.ownAddresses.begin(), local.ownAddresses.end(), loopback), local.ownAddresses.end());
}

TEST(TimeText, Rfc3339)
{
    auto t = parseRfc3339("2019-01-01T00:00:00Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1546300800);
    EXPECT_EQ(std::chrono::system_clock::to_time_t(*parseRfc3339("2019-01-01T01:30:00.25+01:30")), 1546300800);
    EXPECT_EQ(formatRfc3339(*t), "2019-01-01T00:00:00Z");
    EXPECT_FALSE(parseRfc3339("2019-01-01T00:00:00"));
    EXPECT_FALSE(parseRfc3339("2019-02-30T00:00:00Z"));
    EXPECT_FALSE(parseRfc3339("2019-01-01"));
    EXPECT_FALSE(parseRfc3339("2019-01-01T00:00:00Zjunk"));
}

TEST(FindMudSignature, ReadsOnlyTheMudContainer)
{
    EXPECT_EQ(findMudSignature(R"({"ietf-mud:mud": {"mud-url": "https://x/", "mud-signature": "x.p7s"}})"), "x.p7s");
    EXPECT_EQ(findMudSignature(R"({"other": {"mud-signature": "no"}, "ietf-mud:mud": {}})"), std::nullopt);
    EXPECT_EQ(findMudSignature(R"({"ietf-mud:mud": {"x": {"mud-signature": "nested"}}})"), std::nullopt);
    EXPECT_EQ(findMudSignature("not json"), std::nullopt);
    EXPECT_EQ(findMudSignature(std::string(100000, '[')), std::nullopt);
}

TEST(CacheEncoding, RoundTripAndDamage)
{
    CacheEntry e;
    e.url = "https://mud.example.com/dev";
    e.body = "{\"x\": 1}\n";
    e.signature = std::string("\x30\x82\x00\n\0binary", 12);
    e.signatureUrl = "https://mud.example.com/dev.p7s";
    e.etag = "\"abc\"";
    e.lastModified = "Wed, 01 May 2024 10:00:00 GMT";
    e.fetchedAt = std::chrono::system_clock::from_time_t(1714557600);
    e.verifiedAt = e.fetchedAt;
    e.cacheValidityHours = 12;
    e.isSupported = false;
    e.signer = SignerIdentity { "CN=s", "CN=ca", "ab12", "2030-01-01T00:00:00Z" };
    Diagnostic d;
    d.severity = Severity::Warning;
    d.code = "w";
    d.message = "a warning";
    d.file = e.url;
    d.line = 3;
    e.diagnostics.push_back(d);

    auto bytes = encodeCacheEntry(e);
    std::string why;
    auto back = decodeCacheEntry(bytes, &why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(back->body, e.body);
    EXPECT_EQ(back->signature, e.signature);
    EXPECT_EQ(back->etag, e.etag);
    EXPECT_EQ(back->fetchedAt, e.fetchedAt);
    EXPECT_EQ(back->cacheValidityHours, 12u);
    EXPECT_FALSE(back->isSupported);
    EXPECT_EQ(back->signer, e.signer);
    ASSERT_EQ(back->diagnostics.size(), 1u);
    EXPECT_EQ(back->diagnostics[0], d);

    for (std::size_t cut : { std::size_t(0), std::size_t(10), bytes.size() / 2, bytes.size() - 1 }) {
        EXPECT_FALSE(decodeCacheEntry(bytes.substr(0, cut), &why)) << cut;
    }
    auto flipped = bytes;
    flipped[bytes.size() / 2] ^= 0x01;
    EXPECT_FALSE(decodeCacheEntry(flipped, &why));
    EXPECT_EQ(why, "checksum mismatch");
}
