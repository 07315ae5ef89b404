import NIOCore

/// The whole of `gateway.json`, decoded and validated: an immutable value that a
/// request reads through a snapshot. Each property's doc comment names its JSON key,
/// its default and whether a reload changes it.
public struct GatewayConfig: Sendable {
    /// `listeners`: named proxy listeners (`ingress`, `egress`, or any name). Required,
    /// at least one.
    public var listeners: [ListenerConfig]
    /// `admin`: the admin listener (health, readiness). Default `127.0.0.1:9901`.
    public var admin: AdminConfig
    /// `credentials`: outbound credential profiles by name. Default none.
    public var credentials: [CredentialProfileConfig]
    /// `introspection`: RFC 7662 introspection profiles by name. Default none.
    public var introspection: [IntrospectionProfileConfig]
    /// `jwt`: local JWT access-token validation profiles by name. Default none.
    public var jwt: [JWTProfileConfig] = []
    /// `login`: browser login profiles by name. Default none.
    public var login: [LoginProfileConfig] = []
    /// `routes`: in file order; the router picks the longest matching prefix.
    public var routes: [RouteConfig]
    /// `shutdown`: how SIGTERM drains.
    var shutdown: ShutdownConfig
    /// `access_log`: one line per request on standard output. A reload changes it.
    var accessLog: AccessLogConfig
    /// `workers`: event-loop threads, which serve every connection (nginx's
    /// `worker_processes`, Envoy's `--concurrency`). A number from 1 to 512, or `"auto"`
    /// (the default): the CPUs the process may use, from its affinity mask and its cgroup
    /// CPU limit, so a sidecar limited to one CPU runs one loop. nil is `auto`. Changing it
    /// takes a restart; a reload keeps the running number and says so.
    var workers: Int? = nil
    /// `store`: the PostgreSQL database a fleet of gateways shares. Default none (each
    /// gateway on its own). Changing it takes a restart.
    var store: StoreConfig? = nil

    /// The number of event-loop threads `workers` asks for.
    var workerCount: Int { workers ?? System.coreCount }

    public func listener(named name: String) -> ListenerConfig? { listeners.first { $0.name == name } }
    public func credential(named name: String) -> CredentialProfileConfig? { credentials.first { $0.name == name } }
    func introspectionProfile(named name: String) -> IntrospectionProfileConfig? {
        introspection.first { $0.name == name }
    }
    public func jwtProfile(named name: String) -> JWTProfileConfig? { jwt.first { $0.name == name } }
    func loginProfile(named name: String) -> LoginProfileConfig? { login.first { $0.name == name } }
}
