import NIOCore
import Testing
@testable import TokenGate

private let apiRoute = """
{ "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
  "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "strip_prefix": true,
                "upstream": "http://127.0.0.1:9/" } ] }
"""

/// An idle keep-alive connection lets its llhttp decoder go (memory per idle connection),
/// and never loses a byte by it: bytes of a next request that came before the connection
/// went idle keep the decoder.
/// The upstream got a request beginning with `request`; it answers `response`, which
/// reaches the client byte for byte.
private func relay(_ proxy: EmbeddedProxy, _ request: String, answer response: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let upstream = try #require(proxy.upstream(0), sourceLocation: sourceLocation)
    #expect(try upstream.received().hasPrefix(request), sourceLocation: sourceLocation)
    try upstream.respond(response)
    #expect(try proxy.received() == response, sourceLocation: sourceLocation)
}

@Suite("The request decoder rests while a connection idles")
struct RequestDecoderRestTests {
    @Test("a connection holds no parser before its first byte nor after its first answer; one that comes back within a second keeps it, one that idled longer lets it go")
    func restsBetweenRequests() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        #expect(proxy.handler.requestDecoder == nil, "no parser before the first byte")
        // (path, idle before the request, whether the parser is let go after the answer)
        let requests: [(String, TimeAmount, Bool)] = [
            ("one", .zero, true), ("two", .milliseconds(10), false), ("three", .milliseconds(999), false),
            ("four", .seconds(1), true), ("five", .seconds(30), true),
        ]
        #expect(!requests.isEmpty)
        for (path, idle, rests) in requests {
            proxy.loop.advanceTime(by: idle)
            try proxy.send("GET /api/\(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(proxy.handler.requestDecoder != nil)
            try relay(proxy, "GET /\(path) HTTP/1.1\r\n", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            #expect((proxy.handler.requestDecoder == nil) == rests, "\(path): let go \(rests)")
        }
        #expect(proxy.client.isActive)
    }

    @Test("the start of a next request sent with the last one is kept while the connection idles, and completes it")
    func keepsPartialNextHead() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\nGET /api/b HT")
        try relay(proxy, "GET /a HTTP/1.1\r\n", answer: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
        #expect(proxy.handler.requestDecoder != nil, "the decoder holds the next head's start")

        proxy.loop.advanceTime(by: .seconds(2))
        try proxy.send("TP/1.1\r\nHost: a\r\n\r\n")
        try relay(proxy, "GET /b HTTP/1.1\r\n", answer: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
        #expect(proxy.handler.requestDecoder == nil)
    }

    @Test("a body whose last bytes look like an empty line, with a next head's start behind it, loses nothing")
    func bodyEndingInEmptyLine() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("POST /api/a HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab\n\nGET /api/b HTTP/1.1\r\n")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().hasSuffix("\r\n\r\nab\n\n"))
        try upstream.respond("HTTP/1.1 204 No Content\r\n\r\n")
        #expect(try proxy.received() == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(proxy.handler.requestDecoder != nil)
        try proxy.send("Host: a\r\n\r\n")
        try relay(proxy, "GET /b HTTP/1.1\r\n", answer: "HTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test("a chunked body ends on its empty line: the connection rests after it")
    func chunkedBody() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("POST /api/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().contains("ab"))
        try upstream.respond("HTTP/1.1 204 No Content\r\n\r\n")
        #expect(try proxy.received() == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(proxy.handler.requestDecoder == nil)
    }

    @Test("refusals answered while the decoder is being fed: the decoder rests after the feed, never inside it, and the connection serves on")
    func refusalsRestAfterTheFeed() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        let notFound = "GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n"
        // Two forwarded requests, the second a quick return: the decoder stays after it.
        for path in ["first", "quick"] {
            try proxy.send("GET /api/\(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            try relay(proxy, "GET /\(path) HTTP/1.1\r\n", answer: "HTTP/1.1 204 No Content\r\n\r\n")
        }
        #expect(proxy.handler.requestDecoder != nil)
        proxy.loop.advanceTime(by: .seconds(2))
        #expect(!notFound.isEmpty)
        for _ in 0..<3 {
            try proxy.send(notFound)
            #expect(try proxy.received().hasPrefix("HTTP/1.1 404 "))
            #expect(proxy.handler.requestDecoder == nil, "rested once the feed was decoded")
            proxy.loop.advanceTime(by: .seconds(2))
        }
        // Two refusals in one feed (pipelined), then a request that is forwarded.
        try proxy.send(notFound + notFound + "GET /api/ok HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().hasPrefix("GET /ok HTTP/1.1\r\n"))
        try upstream.respond("HTTP/1.1 204 No Content\r\n\r\n")
        let answers = try proxy.received()
        #expect(answers.components(separatedBy: "HTTP/1.1 404 ").count == 3 && answers.hasSuffix("HTTP/1.1 204 No Content\r\n\r\n"))
        #expect(proxy.client.isActive)
    }

    @Test("Connection: upgrade with an empty Upgrade field ends parsing, as llhttp says: answered, then the connection closes")
    func emptyUpgradeEndsParsing() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("GET /api/a HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().hasPrefix("GET /a HTTP/1.1\r\n"))
        try upstream.respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(try proxy.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(!proxy.client.isActive, "llhttp parses nothing after it, so the connection does not wait for more")
    }

    @Test("an empty line is LF, an optional CR, LF at the very end of the bytes")
    func emptyLine() {
        let cases: [(String, Bool)] = [
            ("GET / HTTP/1.1\r\n\r\n", true), ("GET / HTTP/1.1\n\n", true), ("GET / HTTP/1.1\n\r\n", true),
            ("GET / HTTP/1.1\r\n", false), ("GET / HT", false), ("\n", false), ("", false), ("\r\n", false), ("ab\r\n\r", false),
        ]
        #expect(!cases.isEmpty)
        for (text, expected) in cases {
            #expect(RequestHeadDecoder<ProxyHandler>.endsOnEmptyLine(ByteBuffer(string: text)) == expected, "\(text.debugDescription)")
        }
    }
}
