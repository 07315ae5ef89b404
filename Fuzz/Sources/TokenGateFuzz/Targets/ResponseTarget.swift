import NIOCore
import NIOHTTP1
@testable import TokenGate

/// `ResponseRules.clientHead`: an upstream's response head turned into the client's. The
/// input is a `HeadInput`: the status line (`HTTP/1.1 200 OK`), then the upstream's
/// fields; `:method: HEAD` and `:client: HTTP/1.0` set the request's method and the
/// client's version (default GET, HTTP/1.1). Each head is tried with and without a login
/// profile (the gateway's cookies), and closed or kept alive.
///
/// Invariants: nil only for a coding other than chunked to an HTTP/1.0 client; a valid
/// head has well-formed lines, is HTTP/1.1, forwards no hop-by-hop field, no field its
/// `Connection` names, `Upgrade` only on a 101, at most one `Transfer-Encoding` ending in
/// chunked and only when the gateway chunks (never to HTTP/1.0, never with a length, never
/// on a bodyless answer); with a login profile no `Set-Cookie` for one of the gateway's
/// cookies passes, and the dropped count is the upstream's count of them.
enum ResponseTarget {
    static func run(_ bytes: [UInt8]) {
        let input = HeadInput(bytes)
        let words = input.words
        let digits = words.count > 1 ? words[1].utf8.prefix(3).filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } : []
        let code = digits.isEmpty ? 200 : digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let reason = words.count > 2 ? words[2...].joined(separator: " ") : ""
        let status = HTTPResponseStatus(statusCode: code, reasonPhrase: reason)
        let method = HTTPMethod(rawValue: input.settings["method"] ?? "GET")
        let clientVersion: HTTPVersion = input.settings["client"] == "HTTP/1.0" ? .http1_0 : .http1_1
        let upstream = HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(input.fields.map { ($0.name, $0.value) }))
        for cookies in [nil, LoginCookies.Names()] {
            for keepAlive in [true, false] {
                check(upstream, method: method, clientVersion: clientVersion, cookies: cookies, keepAlive: keepAlive)
            }
        }
    }

    static func check(_ upstream: HTTPResponseHead, method: HTTPMethod, clientVersion: HTTPVersion, cookies: LoginCookies.Names?, keepAlive: Bool) {
        let what = "client response head"
        let code = upstream.status.code
        let switching = upstream.status == .switchingProtocols
        let bodyless = method == .HEAD || (100..<200).contains(code) || code == 204 || code == 304
        var listed: [String] = []
        var codings: [String] = []
        var ownCookies = 0
        for (name, value) in upstream.headers {
            switch HeaderKind.of(name) {
            case .connection:
                for token in RequestHeaderScan.commaSeparated(value) where !["close", "keep-alive", "upgrade"].contains(where: { token.caseInsensitiveEquals($0) }) {
                    listed.append(token)
                }
            case .transferEncoding:
                codings += RequestHeaderScan.commaSeparated(value).filter { !$0.caseInsensitiveEquals("chunked") }
            default:
                if let cookies, name.caseInsensitiveEquals("set-cookie"), cookies.isOwn(setCookie: value) { ownCookies += 1 }
            }
        }
        let keepsCodings = !codings.isEmpty && !bodyless

        guard let result = ResponseRules.clientHead(from: upstream, method: method, clientVersion: clientVersion, gatewayCookies: cookies,
                                                    allocator: ByteBufferAllocator()) else {
            invariant(keepsCodings && clientVersion != .http1_1, "a response head was refused that an HTTP/1.1 client could take")
            return
        }
        invariant(!(keepsCodings && clientVersion != .http1_1) || switching, "a coding other than chunked is sent to an HTTP/1.0 client")
        invariant(result.droppedCookies == ownCookies, "the dropped Set-Cookie count (\(result.droppedCookies)) is not the upstream's own-cookie count (\(ownCookies))")
        invariant(!result.chunked || clientVersion == .http1_1, "a chunked body for an HTTP/1.0 client")
        invariant(!(result.chunked && result.delimitedByClose), "a body both chunked and delimited by close")
        if bodyless && !keepsCodings {
            invariant(!result.chunked && !result.delimitedByClose, "a bodyless answer gets body framing")
        }
        var head = result.head
        ResponseRules.finish(&head, keepAlive: keepAlive, clientVersion: clientVersion)
        guard head.isValid else { return }
        let lines = WrittenHead.lines(head.buffer, ended: true, what: what)
        invariant(lines.first.map { $0.starts(with: "HTTP/1.1 ".utf8) } == true, "\(what): the status line is not HTTP/1.1")
        var transferEncodings = 0
        var lengths = 0
        for line in lines.dropFirst() {
            let field = WrittenHead.field(line, what: what)
            switch HeaderKind.of(field.name) {
            case .hopByHop:
                invariant(false, "\(what): a hop-by-hop field is forwarded")
            case .connection:
                invariant(["upgrade", "close", "keep-alive"].contains(field.value), "\(what): the upstream's Connection is forwarded")
                invariant(field.value != "upgrade" || switching, "\(what): Connection: upgrade without a 101")
            case .upgrade:
                invariant(switching, "\(what): Upgrade is forwarded without a 101")
            case .transferEncoding:
                transferEncodings += 1
                invariant(result.chunked && field.value.hasSuffix("chunked"), "\(what): a Transfer-Encoding the gateway does not frame")
            case .contentLength:
                lengths += 1
            case .host:
                break
            default:
                invariant(!listed.contains { $0.caseInsensitiveEquals(field.name) }, "\(what): a field the upstream's Connection names is forwarded")
                if let cookies, field.name.caseInsensitiveEquals("set-cookie") {
                    invariant(!cookies.isOwn(setCookie: field.value), "\(what): an upstream sets one of the gateway's cookies")
                }
            }
        }
        invariant(transferEncodings <= 1, "\(what): more than one Transfer-Encoding")
        invariant(transferEncodings == (result.chunked ? 1 : 0) || switching, "\(what): Transfer-Encoding does not say what the gateway frames")
        invariant(!(result.chunked && lengths > 0), "\(what): both chunked and a Content-Length")
    }
}
