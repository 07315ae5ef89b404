import NIOHTTP1

/// How an upstream response head becomes the client's.
enum ResponseRules {
    /// The client's head, and what the exchange must do to frame the body.
    struct ClientHead {
        var head: HTTPResponseHead
        /// The gateway writes chunk framing itself (a coding other than chunked is kept).
        var framesChunksItself = false
        /// The body can only be delimited by closing the connection.
        var delimitedByClose = false
    }

    /// Strips hop-by-hop fields (and those `Connection` names) and sets framing for this
    /// client (`setConnection` adds `Connection` once keep-alive is decided). A `101` keeps `Upgrade` and `Connection: upgrade`.
    /// Transfer codings other than chunked (`gzip, chunked`) are kept in order, so the
    /// client decodes what the upstream encoded; an HTTP/1.0 client cannot receive them
    /// and the answer is nil (the gateway answers 502).
    static func clientHead(from upstream: HTTPResponseHead, method: HTTPMethod, clientVersion: HTTPVersion) -> ClientHead? {
        let switching = upstream.status == .switchingProtocols
        var listed: [String] = []
        var hasLength = false
        var needsCopy = false
        var codings: [String] = []
        for (name, value) in upstream.headers {
            switch HeaderKind.of(name) {
            case .connection:
                needsCopy = true
                listed += RequestHeaderScan.commaSeparated(value)
            case .transferEncoding:
                needsCopy = true
                codings += RequestHeaderScan.commaSeparated(value).filter { !$0.caseInsensitiveEquals("chunked") }
            case .hopByHop, .upgrade:
                needsCopy = true
            case .contentLength:
                hasLength = true
            default:
                break
            }
        }
        var headers: HTTPHeaders
        if needsCopy {
            headers = HTTPHeaders()
            headers.reserveCapacity(upstream.headers.count + 2)
            for (name, value) in upstream.headers {
                switch HeaderKind.of(name) {
                case .connection, .transferEncoding, .hopByHop: continue
                case .upgrade: if !switching { continue }
                case .contentLength, .host: break
                default: if !listed.isEmpty, listed.contains(where: { $0.caseInsensitiveEquals(name) }) { continue }
                }
                headers.add(name: name, value: value)
            }
        } else {
            headers = upstream.headers
        }
        var result = ClientHead(head: HTTPResponseHead(version: .http1_1, status: upstream.status, headers: headers))
        if switching {
            result.head.headers.add(name: "Connection", value: "upgrade")
            return result
        }
        let status = upstream.status.code
        let bodyless = method == .HEAD || (100..<200).contains(status) || status == 204 || status == 304
        if !codings.isEmpty && !bodyless {
            guard clientVersion == .http1_1 else { return nil }
            // The length, if any, is of the encoded body before chunking: not the client's.
            result.head.headers.remove(name: "Content-Length")
            result.head.headers.add(name: "Transfer-Encoding", value: (codings + ["chunked"]).joined(separator: ", "))
            result.framesChunksItself = true
        } else if !bodyless && !hasLength {
            if clientVersion == .http1_1 {
                result.head.headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                result.delimitedByClose = true
            }
        }
        return result
    }

    /// Tells the client whether the connection stays open after this response.
    static func setConnection(_ head: inout HTTPResponseHead, keepAlive: Bool, clientVersion: HTTPVersion) {
        if !keepAlive {
            head.headers.add(name: "Connection", value: "close")
        } else if clientVersion == .http1_0 {
            head.headers.add(name: "Connection", value: "keep-alive")
        }
    }
}
