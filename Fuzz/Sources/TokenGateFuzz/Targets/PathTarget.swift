@testable import TokenGate

/// Request targets: `RequestPath.parseTarget` (split, normalise, refuse), the absolute
/// form the planner accepts, the query escaping, the prefix rule and the upstream join.
/// The input is the request target as a client sends it (`/a/%2e%2e/b?x=1`).
///
/// Invariants: a normalised path starts with `/`, has no empty, `.` or `..` segment and
/// no byte outside the allowed set, and normalises to itself; an escaped query is
/// printable ASCII without `#` and escapes to itself; a path under a prefix starts with
/// it; a join has exactly one `/` at the seam.
enum PathTarget {
    static let prefixes = ["/", "/api/", "/api", "/portal/.tokengate/", "/billing/", "/a%2Fb"]
    static let bases = ["/", "/api/", "/api", "/base/v1/"]

    static func run(_ bytes: [UInt8]) {
        let uri = String(decoding: bytes, as: UTF8.self)
        _ = RequestPath.hasPathParameters(uri)
        if let absolute = RequestPlanner.originForm(ofAbsolute: uri) {
            invariant(absolute.path.utf8.first == UInt8(ascii: "/"), "the origin form of an absolute target does not start with /")
            check(absolute.path)
        }
        check(uri)
    }

    static func check(_ uri: String) {
        guard let target = RequestPath.parseTarget(uri) else { return }
        let path = target.path
        invariant(path.utf8.first == UInt8(ascii: "/"), "a normalised path does not start with /")
        invariant(RequestPath.normalize(path) == path, "a normalised path does not normalise to itself")
        // The segments between the leading `/` and an optional trailing one.
        let inner = path.utf8.dropFirst()
        var segments = inner.isEmpty ? [] : inner.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if inner.last == UInt8(ascii: "/") { segments.removeLast() }
        for segment in segments {
            invariant(!segment.isEmpty, "a normalised path has an empty segment (//)")
            invariant(!segment.elementsEqual(".".utf8) && !segment.elementsEqual("..".utf8), "a normalised path keeps a . or .. segment")
        }
        invariant(path.utf8.allSatisfy(isNormalPathByte), "a normalised path has a byte that is refused or must be escaped")
        var index = path.utf8.startIndex
        let utf8 = path.utf8
        while index < utf8.endIndex {
            if utf8[index] == UInt8(ascii: "%") {
                let rest = utf8[utf8.index(after: index)...].prefix(2)
                invariant(rest.count == 2 && rest.allSatisfy(isUpperHex), "a normalised path has an escape that is not %XX in upper case")
                let value = rest.reduce(UInt8(0)) { $0 << 4 | (hexDigitValue($1) ?? 0) }
                invariant(!isUnreserved(value), "a normalised path escapes an unreserved character")
                invariant(value != UInt8(ascii: "/") && value != UInt8(ascii: "\\") && value != 0, "a normalised path keeps an encoded /, \\ or NUL")
            }
            index = utf8.index(after: index)
        }
        if let query = target.query {
            let escaped = RequestPath.escapedQuery(query)
            invariant(escaped.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }, "an escaped query has a byte a query may not hold")
            invariant(!escaped.utf8.contains { "\"<>\\^`{|}".utf8.contains($0) }, "an escaped query keeps a byte that must be escaped")
            invariant(RequestPath.escapedQuery(escaped) == escaped, "an escaped query escapes again")
            _ = BearerCredential.queryHasAccessToken(query)
        }
        for prefix in prefixes where RequestPath.isUnder(path, prefix: prefix) {
            invariant(path.utf8.starts(with: prefix.utf8), "a path is under a prefix it does not start with")
        }
        for base in bases {
            let joined = RequestPath.join(base: base, path)
            let head = base.utf8.last == UInt8(ascii: "/") ? Substring(base.utf8.dropLast()) : Substring(base)
            let tail = Substring(path.utf8.dropFirst())
            invariant(joined == head + "/" + tail, "joining \(base) and a path does not give one / at the seam")
        }
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "-._~".utf8.contains(byte)
    }

    /// RFC 3986 pchar less `;` (refused), with `%` for escapes and `/` between segments.
    private static func isNormalPathByte(_ byte: UInt8) -> Bool {
        isUnreserved(byte) || "!$&'()*+,=:@%/".utf8.contains(byte)
    }

    private static func isUpperHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }
}
