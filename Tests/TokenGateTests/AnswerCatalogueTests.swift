import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import TokenGate

/// The catalogue of the gateway's answers (`AnswerCode`): README documents exactly its
/// codes, successes are not logged as errors, and every listener renders answers alike.
@Suite("The catalogue of the gateway's answers")
struct AnswerCatalogueTests {
    private typealias Row = (code: String, status: String)

    /// The tables under README's "Answers and their codes", in order, as (code, status).
    private static func readmeTables() throws -> [[Row]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0 == "### Answers and their codes" }) else { return [] }
        var tables: [[Row]] = []
        var inTable = false
        for line in lines[(start + 1)...] {
            if line.hasPrefix("#") { break }
            guard line.hasPrefix("|") else {
                inTable = false
                continue
            }
            if !inTable {
                tables.append([])
                inTable = true
            }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, cells[0].count > 2, cells[0].hasPrefix("`"), cells[0].hasSuffix("`") else { continue }
            tables[tables.count - 1].append((code: String(cells[0].dropFirst().dropLast()), status: cells[1]))
        }
        return tables
    }

    /// Everything `channel` wrote, as text.
    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }

    @Test("README lists every code a client can receive, each as error or not and with its status, the logged-only ones apart, and no code the catalogue lacks")
    func readmeListsTheCatalogue() throws {
        let tables = try Self.readmeTables()
        try #require(tables.count == 3, "README's section has three tables: errors, answers that are not errors, outcomes only logged")
        let kinds: [[AnswerCode]] = [
            AnswerCode.allCases.filter { $0.isError && $0.reachesClient },
            AnswerCode.allCases.filter { !$0.isError },
            AnswerCode.allCases.filter { !$0.reachesClient },
        ]
        #expect(kinds.map { $0.count }.reduce(0, +) == AnswerCode.allCases.count, "every code is of exactly one kind")
        for (table, codes) in zip(tables, kinds) {
            #expect(!codes.isEmpty)
            #expect(!table.isEmpty)
            let listed = table.map { $0.code }
            let missing = Set(codes.map { $0.rawValue }).subtracting(listed)
            let unknown = Set(listed).subtracting(codes.map { $0.rawValue })
            #expect(missing.isEmpty, "README does not list \(missing.sorted())")
            #expect(unknown.isEmpty, "README lists \(unknown.sorted()), which the catalogue does not have as this kind")
            #expect(listed.count == Set(listed).count, "no code is listed twice")
            for row in table {
                guard let code = AnswerCode(rawValue: row.code) else { continue }
                #expect(row.status == String(code.status.code), "\(row.code) is \(code.status.code), README says \(row.status)")
            }
        }
    }

    @Test("a login's redirect and a logout's answers are successes, logged without an error; every other code is logged under its own name")
    func successesAreNotErrors() {
        let successes = AnswerCode.allCases.filter { !$0.isError }
        let expected: Set<AnswerCode> = [.loginRedirect, .loggedOut, .logoutConfirmation]
        #expect(Set(successes) == expected)
        for code in successes {
            #expect(code.accessLogError == nil, "\(code.rawValue)")
            #expect(code.status.code < 400, "\(code.rawValue)")
        }
        let errors = AnswerCode.allCases.filter { $0.isError }
        #expect(!errors.isEmpty)
        for code in errors {
            #expect(code.accessLogError == code.rawValue)
            if code.reachesClient { #expect(code.status.code >= 400, "\(code.rawValue)") }
        }
    }

    @Test("the access log line of a login redirect has no error; a refusal's names its code")
    func accessLogOmitsSuccesses() throws {
        let json = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "http://127.0.0.1:1/" } ] }
        """
        let lines = NIOLockedValueBox<[String]>([])
        let writer = AccessLogWriter(outputIsTerminal: false) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            lines.withLockedValue { $0.append(contentsOf: text.split(separator: "\n").map(String.init)) }
        }
        let loaded = try ConfigLoader(resolver: SecretResolver(environment: [:])).load(bytes: Array(json.utf8))
        let telemetry = Telemetry(accessLog: writer)
        let loop = EmbeddedEventLoop()
        let environment = ListenerEnvironment(
            name: "main", snapshots: SnapshotStore(try ConfigSnapshot(loaded, metrics: telemetry.metrics)), pools: UpstreamPools(group: loop),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), telemetry: telemetry
        )
        for answer in [GatewayAnswer(.loginRedirect, route: "api"), GatewayAnswer(.noRoute)] {
            environment.recordRefusal(
                answer, head: nil, startedAt: .now(), policy: AccessLogPolicy(.default), bytesOut: 0, clientAddress: "127.0.0.1", eventLoop: nil
            )
        }
        let logged = lines.withLockedValue { $0 }
        try #require(logged.count == 2)
        #expect(logged[0].contains(#""status":302"#) && logged[0].contains(#""error":null"#))
        #expect(logged[1].contains(#""status":404"#) && logged[1].contains(#""error":"no_route""#))
    }

    @Test("the 408 for a request head that did not arrive in time is rendered like every other answer, Cache-Control: no-store included")
    func requestTimeoutIsRenderedAlike() throws {
        let json = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "http://127.0.0.1:1/" } ] }
        """
        let lines = NIOLockedValueBox<[String]>([])
        let writer = AccessLogWriter(outputIsTerminal: false) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            lines.withLockedValue { $0.append(contentsOf: text.split(separator: "\n").map(String.init)) }
        }
        let loaded = try ConfigLoader(resolver: SecretResolver(environment: [:])).load(bytes: Array(json.utf8))
        let telemetry = Telemetry(accessLog: writer)
        let channel = EmbeddedChannel()
        let environment = ListenerEnvironment(
            name: "main", snapshots: SnapshotStore(try ConfigSnapshot(loaded, metrics: telemetry.metrics)),
            pools: UpstreamPools(group: channel.embeddedEventLoop), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            telemetry: telemetry
        )
        // The listener's pipeline: the decoder tells the handler when a head begins; the
        // handler's one timer answers a head that is late.
        let handler = ProxyHandler(environment: environment, headTimeout: .zero, idleTimeout: .seconds(60))
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestHeadDecoder(observer: handler)))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET /api/x HTTP/1.1\r\nHost: a\r\n"))
        // The head deadline is on the loop's clock; the embedded loop runs what is due by then.
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let answer = try written(channel)
        // The access log is flushed on the loop.
        channel.embeddedEventLoop.run()
        let recordedBytes = lines.withLockedValue { $0 }.compactMap { line -> Int? in
            guard line.contains("request_timeout"), let range = line.range(of: "\"bytes_out\":") else { return nil }
            return Int(String(line[range.upperBound...].prefix { $0.isNumber }))
        }.first
        let body = #"{"error":"request_timeout","detail":"the request head did not arrive in time"}"# + "\n"
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(answer.contains("\r\nContent-Type: application/json\r\n"))
        #expect(answer.contains("\r\nContent-Length: \(body.utf8.count)\r\n"))
        #expect(answer.contains("\r\nCache-Control: no-store\r\n"))
        #expect(answer.contains("\r\nConnection: close\r\n"))
        #expect(answer.hasSuffix("\r\n\r\n" + body))
        #expect(recordedBytes == body.utf8.count, "the access log gets the body's size")
        #expect(!channel.isActive, "the connection closes after it")
        _ = try? channel.finish()
        channel.embeddedEventLoop.run()
    }

    @Test("the admin listener's refusals have the proxy's JSON body and fields")
    func adminIsRenderedAlike() throws {
        let routes = AdminRoutes(isReady: { true }, status: { "{}" }, metrics: { "" }, reload: { answer in answer(nil) })
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
        try channel.pipeline.syncOperations.addHandler(AdminHandler(routes: routes, allowedHost: "127.0.0.1"))
        try channel.writeInbound(ByteBuffer(string: "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        let answer = try written(channel)
        let body = #"{"error":"not_found","detail":"no such endpoint"}"# + "\n"
        #expect(answer.hasPrefix("HTTP/1.1 404"))
        #expect(answer.lowercased().contains("\r\ncontent-type: application/json\r\n"))
        #expect(answer.lowercased().contains("\r\ncache-control: no-store\r\n"))
        #expect(answer.hasSuffix(body))
        #expect(String(buffer: GatewayAnswer(.notFound).body(allocator: ByteBufferAllocator())) == body, "the proxy's body for the same code")
        _ = try? channel.finish()
        channel.embeddedEventLoop.run()
    }
}
