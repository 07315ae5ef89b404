#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix

/// Watches a configuration file and reloads when its bytes change.
///
/// Driven by events, not by polling: inotify on the file's directory (on the event loop
/// group, through a NIO pipe channel) reports writes, renames and creations there, which
/// covers an in-place edit, an editor's write-and-rename and a Kubernetes ConfigMap's
/// `..data` symlink swap alike. Each event is checked by content (the file is read
/// through its path and fingerprinted), once the writes have settled for `settle`, so a
/// burst of writes or an unrelated file in the directory causes no reload.
///
/// A reload that fails is tried again with the same bytes, with backoff (2 s doubling to
/// 60 s, at most `maxRetries` times): a port still held by the old process or a secret
/// file that appears a moment after the ConfigMap are transient. An edit starts afresh.
///
/// Where inotify is unavailable (another OS, an exhausted watch limit) it falls back to
/// reading the file every `fallbackInterval`.
struct ConfigFileWatcher: Sendable {
    let path: String
    let initial: String
    var settle: Duration = .milliseconds(200)
    var firstRetry: Duration = .seconds(2)
    var maxRetry: Duration = .seconds(60)
    var maxRetries = 10
    var fallbackInterval: Duration = .seconds(1)

    /// Why the watcher looks at the file: an event or the fallback timer (`changed`), or
    /// the backoff of the failed reload numbered `attempt` ending (`retryDue`).
    enum Wake: Sendable { case changed, retryDue(attempt: Int) }

    /// `reload` gets whether this is a retry and returns whether it succeeded.
    ///
    /// The fallback timer and the retry timers are child tasks of this call, so they end
    /// with it. A retry timer is never cancelled: a reload numbers its retries, and a wake
    /// for a number that is no longer the pending one (an edit came first) is ignored.
    func run(group: any EventLoopGroup, _ reload: @Sendable (_ retry: Bool) async -> Bool) async {
        let (wakes, wake) = AsyncStream.makeStream(of: Wake.self, bufferingPolicy: .bufferingNewest(8))
        let events = await DirectoryEvents.watch(directoryOf: path, group: group) { wake.yield(.changed) }
        defer {
            wake.finish()
            events?.close(promise: nil)
        }
        await withDiscardingTaskGroup { timers in
            if events == nil {
                // No inotify: look at the file on a timer instead.
                let interval = fallbackInterval
                timers.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if case .terminated = wake.yield(.changed) { return }
                    }
                }
            }
            // A change between loading the file and the watch starting has no event: look once.
            wake.yield(.changed)
            var seen = initial
            var attempts = 0
            var retry: (attempt: Int, delay: Duration, left: Int)?
            await withTaskCancellationHandler {
                for await reason in wakes {
                    switch reason {
                    case .changed:
                        // Let a burst of writes end, then compare what the file holds now.
                        try? await Task.sleep(for: settle)
                        guard let version = fingerprint(), version != seen else { continue }
                        seen = version
                        retry = nil
                        if await reload(false) { continue }
                        attempts += 1
                        retry = (attempts, firstRetry, maxRetries)
                        Self.schedule(.retryDue(attempt: attempts), after: firstRetry, on: wake, in: &timers)
                    case .retryDue(let attempt):
                        guard let pending = retry, pending.attempt == attempt, fingerprint() == seen else { continue }
                        retry = nil
                        if await reload(true) || pending.left <= 1 { continue }
                        let delay = min(pending.delay * 2, maxRetry)
                        attempts += 1
                        retry = (attempts, delay, pending.left - 1)
                        Self.schedule(.retryDue(attempt: attempts), after: delay, on: wake, in: &timers)
                    }
                }
            } onCancel: {
                wake.finish()
            }
            // The wakes ended (cancellation): end the timers too.
            timers.cancelAll()
        }
    }

    /// Wakes the watcher with `reason` after `delay`, from a child task of `timers`.
    private static func schedule(
        _ reason: Wake, after delay: Duration, on wake: AsyncStream<Wake>.Continuation, in timers: inout DiscardingTaskGroup
    ) {
        timers.addTask {
            try? await Task.sleep(for: delay)
            if !Task.isCancelled { wake.yield(reason) }
        }
    }

    private func fingerprint() -> String? {
        (try? FileReader.readAll(path: path, limit: 16 << 20)).map(ConfigLoader.fingerprint)
    }
}

/// inotify on one directory, read by a NIO pipe channel: `onEvent` runs on an event loop
/// for each batch of events.
enum DirectoryEvents {
    /// Starts watching the directory that holds `path`; nil when inotify is not available.
    static func watch(directoryOf path: String, group: any EventLoopGroup, onEvent: @escaping @Sendable () -> Void) async -> (any Channel)? {
        #if os(Linux)
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM)
        guard inotify_add_watch(descriptor, directory, mask) >= 0 else {
            close(descriptor)
            return nil
        }
        do {
            return try await NIOPipeBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EventHandler(onEvent: onEvent)) }
                }
                .takingOwnershipOfDescriptor(input: descriptor)
                .get()
        } catch {
            close(descriptor)
            return nil
        }
        #else
        return nil
        #endif
    }

    private final class EventHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let onEvent: @Sendable () -> Void

        init(onEvent: @escaping @Sendable () -> Void) { self.onEvent = onEvent }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

        func channelReadComplete(context: ChannelHandlerContext) {
            onEvent()
        }
    }
}
