#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`), which bounds how many connections the
/// gateway can hold: each proxied client connection may hold an upstream one too.
enum DescriptorLimit {
    #if canImport(Darwin)
    private static let resource = RLIMIT_NOFILE
    #else
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif

    /// Raises the soft limit to the hard one, as nginx's `worker_rlimit_nofile` and Go's
    /// runtime do: the soft default (often 1024) is a leftover of `select()`, which the
    /// gateway does not use. Leaves the limit as it is when that is not allowed.
    static func raiseSoftToHard() {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
    }

    /// The soft limit in force; nil when unlimited or unknown.
    static var current: Int? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// The most client connections one listener may hold whatever `max_connections` says:
    /// half the descriptors (a proxied connection may hold an upstream one), less a reserve
    /// for the admin listener, token calls and files.
    static var connectionBudget: Int {
        guard let descriptors = current else { return .max }
        return max(1, (descriptors - 64) / 2)
    }
}
