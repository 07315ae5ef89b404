import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// Watches the configuration file and reloads through the reload worker.
struct ConfigWatcherService: Service, CustomStringConvertible {
    let watcher: ConfigFileWatcher
    let group: any EventLoopGroup
    let reload: @Sendable (_ retry: Bool) async -> Bool

    var description: String { "configuration file watcher \(watcher.path)" }

    func run() async {
        await cancelWhenGracefulShutdown { [self] in
            await watcher.run(group: group, reload)
        }
    }
}
