#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Request-target parsing and path normalisation, done before routing so that what the
/// router matches is exactly what the upstream receives.
///
/// Normalisation follows RFC 3986 §6.2.2: percent-encoded unreserved characters are
/// decoded, other escapes get upper-case hex, and `.`/`..` segments are resolved. Merged
/// slashes follow nginx's `merge_slashes on`. Refused outright (400): escapes that would
/// change the path's structure once an upstream decodes them (`%2F`, `%5C`, `%00`), raw
/// backslashes, control or non-ASCII bytes, malformed escapes, and `..` above the root.
enum RequestPath {
    /// The parts of an origin-form request target.
    struct Target: Equatable {
        /// The normalised path, starting with `/`.
        var path: String
        /// Everything after the first `?`, unchanged, without the `?`; nil when absent.
        var query: String?
    }

    /// Splits and normalises a request target, or nil when it must be refused.
    static func parseTarget(_ uri: String) -> Target? {
        var pathPart = Substring(uri)
        var query: String?
        if let mark = ASCII.firstIndex(of: UInt8(ascii: "?"), in: uri) {
            pathPart = uri[..<mark]
            let rest = uri[uri.utf8.index(after: mark)...]
            guard rest.utf8.allSatisfy(isAllowedQueryByte) else { return nil }
            query = String(rest)
        }
        guard let path = normalize(pathPart) else { return nil }
        return Target(path: path, query: query)
    }

    /// Whether the path part of a target has `;` path parameters, which servers disagree on
    /// (Tomcat and Spring drop them before matching, `..;` included).
    static func hasPathParameters(_ uri: String) -> Bool {
        for byte in uri.utf8 {
            if byte == UInt8(ascii: "?") { return false }
            if byte == UInt8(ascii: ";") { return true }
        }
        return false
    }

    /// The query with the bytes RFC 3986 does not allow in a query (`"`, `<`, `>`, `\`,
    /// `^`, `` ` ``, `{`, `|`, `}`) percent-encoded: clients send them raw, upstreams and
    /// NIO's encoder expect them encoded, and the decoded value is the same.
    static func escapedQuery(_ query: String) -> String {
        guard query.utf8.contains(where: needsEscapeInQuery) else { return query }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(query.utf8.count + 16)
        for byte in query.utf8 {
            if needsEscapeInQuery(byte) {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(upperHex(byte >> 4))
                bytes.append(upperHex(byte & 0x0F))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func needsEscapeInQuery(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\\"), UInt8(ascii: "^"),
             UInt8(ascii: "`"), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"):
            return true
        default:
            return false
        }
    }

    /// Normalises a path; nil when it must be refused.
    static func normalize(_ raw: some StringProtocol) -> String? {
        if isAlreadyNormal(raw.utf8) { return String(raw) }
        let bytes = Array(raw.utf8)
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        var segments: [[UInt8]] = []
        var current: [UInt8] = []
        var endsWithSlash = false
        var index = 0

        func finishSegment(_ segment: [UInt8], isLast: Bool) -> Bool {
            if segment == [UInt8(ascii: ".")] {
                if isLast { endsWithSlash = true }
            } else if segment == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                guard !segments.isEmpty else { return false }
                segments.removeLast()
                if isLast { endsWithSlash = true }
            } else if !segment.isEmpty {
                segments.append(segment)
            }
            return true
        }

        index = 1
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "/"):
                guard finishSegment(current, isLast: false) else { return nil }
                current.removeAll(keepingCapacity: true)
                endsWithSlash = true
                index += 1
                continue
            case UInt8(ascii: "%"):
                guard index + 2 < bytes.count,
                      let high = hexDigitValue(bytes[index + 1]), let low = hexDigitValue(bytes[index + 2]) else { return nil }
                let decoded = high << 4 | low
                if decoded == UInt8(ascii: "/") || decoded == UInt8(ascii: "\\") || decoded == 0 { return nil }
                if isUnreserved(decoded) {
                    current.append(decoded)
                } else {
                    current.append(contentsOf: [UInt8(ascii: "%"), upperHex(high), upperHex(low)])
                }
                index += 3
            default:
                guard isAllowedPathByte(byte) else { return nil }
                current.append(byte)
                index += 1
            }
            endsWithSlash = false
        }
        guard finishSegment(current, isLast: true) else { return nil }
        var result = [UInt8(ascii: "/")]
        for (position, segment) in segments.enumerated() {
            if position > 0 { result.append(UInt8(ascii: "/")) }
            result.append(contentsOf: segment)
        }
        if endsWithSlash && !segments.isEmpty { result.append(UInt8(ascii: "/")) }
        return String(decoding: result, as: UTF8.self)
    }

    /// True for the common case that needs no work: allowed bytes only, no escapes, no
    /// empty segments and no segment starting with a dot.
    private static func isAlreadyNormal(_ utf8: some Collection<UInt8>) -> Bool {
        guard utf8.first == UInt8(ascii: "/") else { return false }
        var previous: UInt8 = 0
        for byte in utf8 {
            if previous == UInt8(ascii: "/") && (byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".")) { return false }
            if byte != UInt8(ascii: "/") && !isAllowedPathByte(byte) { return false }
            previous = byte
        }
        return true
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// pchar minus `%` (handled separately): unreserved, sub-delims, `:` and `@` (RFC 3986
    /// §3.3), less `;`: path parameters are refused, since servers disagree on them.
    private static func isAllowedPathByte(_ byte: UInt8) -> Bool {
        isUnreserved(byte) || "!$&'()*+,=:@".utf8.contains(byte)
    }

    /// Query bytes: printable ASCII except `#`, plus nothing else (no spaces, no controls).
    private static func isAllowedQueryByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "#")
    }

    private static func upperHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }

    /// Whether the normalised `path` is under `prefix`, the one rule for `match.path_prefix`
    /// and `public_paths`: a prefix ending in `/` matches by plain prefix; otherwise whole
    /// segments only (`/health` matches `/health` and `/health/x`, never `/healthz-admin`
    /// or `/health-internal/users`). Compared byte by byte, so the prefix's byte count is
    /// a boundary in `path` (`strip_prefix` relies on it).
    static func isUnder(_ path: String, prefix: String) -> Bool {
        // On every request for every route tried: one memcmp over contiguous UTF-8, not a
        // generic walk of the views (about 500 instructions a request).
        var path = path
        var prefix = prefix
        return path.withUTF8 { path in
            prefix.withUTF8 { prefix in
                guard path.count >= prefix.count else { return false }
                if prefix.isEmpty { return true }
                guard let a = path.baseAddress, let b = prefix.baseAddress, memcmp(a, b, prefix.count) == 0 else { return false }
                return prefix[prefix.count - 1] == UInt8(ascii: "/") || path.count == prefix.count || path[prefix.count] == UInt8(ascii: "/")
            }
        }
    }

    /// Joins an upstream base path and the request's remaining path with exactly one `/`
    /// between them: `/api/` + `/invoices` → `/api/invoices`.
    static func join(base: String, _ rest: String) -> String {
        if rest.isEmpty { return base }
        let baseSlash = base.utf8.last == UInt8(ascii: "/")
        let restSlash = rest.utf8.first == UInt8(ascii: "/")
        // An upstream at its root ("/") adds nothing to a path that starts with "/".
        if baseSlash && restSlash && base.utf8.count == 1 { return rest }
        switch (baseSlash, restSlash) {
        case (true, true): return base + Substring(rest.utf8.dropFirst())
        case (false, false): return base + "/" + rest
        default: return base + rest
        }
    }
}
