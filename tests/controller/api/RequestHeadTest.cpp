// checkHead(): what reaches cpp-httplib, and what never does.
#include "api/RequestHead.h"

#include <gtest/gtest.h>

namespace mudguard::controller::http {
namespace {

HeadLimits limits()
{
    HeadLimits l;
    l.maxHeadBytes = 1024;
    l.maxTargetBytes = 64;
    l.maxBodyBytes = 100;
    l.maxHeaders = 4;
    return l;
}

TEST(RequestHead, IncompleteUntilTheEmptyLine)
{
    auto c = checkHead("GET /healthz HTTP/1.1\r\nHost: x\r\n", limits());
    EXPECT_FALSE(c.head);
    EXPECT_FALSE(c.refusal);
    c = checkHead("", limits());
    EXPECT_FALSE(c.head || c.refusal);
}

TEST(RequestHead, AcceptsAndKeepsAnOrdinaryHead)
{
    const std::string in = "POST /api/v1/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n{\"mac\":\"02\"}";
    auto c = checkHead(in, limits());
    ASSERT_TRUE(c.head);
    EXPECT_EQ(c.head->method, "POST");
    EXPECT_EQ(c.head->target, "/api/v1/devices");
    EXPECT_EQ(c.head->contentLength, 12u);
    EXPECT_EQ(c.head->length, in.find("{"));
    EXPECT_EQ(c.head->forLibrary, in.substr(0, in.find("{")));
}

TEST(RequestHead, DropsRangeAndAddsAZeroLengthToBodylessWrites)
{
    auto c = checkHead("GET /x HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: x\r\nHost: y\r\n\r\n", limits());
    ASSERT_TRUE(c.head);
    EXPECT_EQ(c.head->forLibrary, "GET /x HTTP/1.1\r\nHost: y\r\n\r\n");
    c = checkHead("POST /x HTTP/1.1\r\nHost: y\r\n\r\n", limits());
    ASSERT_TRUE(c.head);
    EXPECT_EQ(c.head->forLibrary, "POST /x HTTP/1.1\r\nHost: y\r\nContent-Length: 0\r\n\r\n");
    c = checkHead("DELETE /x HTTP/1.0\r\n\r\n", limits());
    ASSERT_TRUE(c.head);
    EXPECT_EQ(c.head->forLibrary, "DELETE /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    c = checkHead("GET /x HTTP/1.1\r\n\r\n", limits());
    ASSERT_TRUE(c.head);
    EXPECT_EQ(c.head->forLibrary, "GET /x HTTP/1.1\r\n\r\n") << "GET has no body either way";
}

struct Refused {
    std::string input;
    int status;
    std::string code;
};

class RequestHeadRefusal : public ::testing::TestWithParam<Refused> { };

TEST_P(RequestHeadRefusal, IsRefusedWithItsCode)
{
    auto c = checkHead(GetParam().input, limits());
    ASSERT_TRUE(c.refusal) << GetParam().input;
    EXPECT_FALSE(c.head);
    EXPECT_EQ(c.refusal->status, GetParam().status) << c.refusal->message;
    EXPECT_EQ(c.refusal->code, GetParam().code);
    EXPECT_FALSE(c.refusal->message.empty());
}

INSTANTIATE_TEST_SUITE_P(Heads, RequestHeadRefusal,
    ::testing::Values(Refused { "GET /x HTTP/1.1\r\nX: " + std::string(1100, 'a'), 431, "headers-too-large" },
        Refused { "GET /x HTTP/1.1\r\nX: " + std::string(1100, 'a') + "\r\n\r\n", 431, "headers-too-large" },
        Refused { "GET /x HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n", 431, "headers-too-large" },
        Refused { "GET /" + std::string(100, 'a'), 414, "uri-too-long" },
        Refused { "GET /" + std::string(70, 'a') + " HTTP/1.1\r\n\r\n", 414, "uri-too-long" },
        Refused { "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "length-required" },
        Refused { "POST /x HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n", 411, "length-required" },
        Refused { "POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413, "payload-too-large" },
        Refused { "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "bad-request" },
        Refused { "POST /x HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400, "bad-request" },
        Refused { "POST /x HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n", 400, "bad-request" },
        Refused { "GET /x HTTP/1.1\nHost: y\r\n\r\n", 400, "bad-request" },
        Refused { "GET /x HTTP/1.1\r\nHost: y\rz\r\n\r\n", 400, "bad-request" },
        Refused { "GET /x HTTP/1.1\r\n folded\r\n\r\n", 400, "bad-request" },
        Refused { "GET /x HTTP/1.1\r\n: novalue\r\n\r\n", 400, "bad-request" },
        Refused { "GET /x HTTP/1.1\r\nNo Colon\r\n\r\n", 400, "bad-request" },
        Refused { std::string("GET /x HTTP/1.1\r\nX: a\0b\r\n\r\n", 27), 400, "bad-request" },
        Refused { "get /x HTTP/1.1\r\n\r\n", 400, "bad-request" },
        Refused { "GET x HTTP/1.1\r\n\r\n", 400, "bad-request" },
        Refused { "GET http://h/x HTTP/1.1\r\n\r\n", 400, "bad-request" },
        Refused { "GET /x\x7f HTTP/1.1\r\n\r\n", 400, "bad-request" },
        Refused { "GET /a%2fb HTTP/1.1\r\n\r\n", 400, "bad-request" },
        Refused { "GET /a%00 HTTP/1.1\r\n\r\n", 400, "bad-request" },
        Refused { "GET /a%4 HTTP/1.1\r\n\r\n", 400, "bad-request" },
        Refused { "GET /x HTTP/1.2\r\n\r\n", 400, "bad-request" }, Refused { "GET /x\r\n\r\n", 400, "bad-request" },
        Refused { "\r\nGET /x HTTP/1.1\r\n\r\n", 400, "bad-request" }));

TEST(RequestHead, EncodedSlashInTheQueryIsFine)
{
    auto c = checkHead("GET /api/v1/events?device=02%3A00%2F HTTP/1.1\r\n\r\n", limits());
    EXPECT_TRUE(c.head);
}

} // namespace
} // namespace mudguard::controller::http
