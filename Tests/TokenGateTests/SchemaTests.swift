import Foundation
import Testing
@testable import TokenGate

@Suite("JSON Schema of gateway.json")
struct SchemaTests {
    private func schema() throws -> JSONValue {
        try JSONParser.parse(Array(GatewaySchema.text.utf8))
    }

    private func properties(_ value: JSONValue, _ path: [String]) -> Set<String> {
        var current = value
        for key in path {
            guard case .object(let members) = current, let next = members.first(where: { $0.key == key })?.value else { return [] }
            current = next
        }
        guard case .object(let members) = current else { return [] }
        return Set(members.map(\.key))
    }

    @Test("the shipped gateway.schema.json is what `tokengate schema` prints")
    func shippedFileMatches() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOf: root.appendingPathComponent("gateway.schema.json"), encoding: .utf8)
        #expect(shipped == GatewaySchema.text)
        let printed = try await runTokenGate(["schema"])
        #expect(printed.stdout == GatewaySchema.text)
    }

    @Test("every object in the schema allows exactly the keys the decoder accepts")
    func keysMatchDecoder() throws {
        let schema = try schema()
        #expect(properties(schema, ["properties"]) == Set(GatewayConfigDecoder.topLevelKeys))
        #expect(properties(schema, ["properties", "listeners", "additionalProperties", "properties"]) == Set(GatewayConfigDecoder.listenerKeys))
        #expect(properties(schema, ["properties", "listeners", "additionalProperties", "properties", "tls", "properties"]) == Set(ListenerTLSConfig.keys))
        #expect(properties(schema, ["properties", "routes", "items", "properties"]) == Set(GatewayConfigDecoder.routeKeys))
        #expect(properties(schema, ["properties", "credentials", "additionalProperties", "properties"]) == Set(GatewayConfigDecoder.credentialKeys))
        #expect(properties(schema, ["properties", "introspection", "additionalProperties", "properties"]) == Set(GatewayConfigDecoder.introspectionKeys))
        #expect(properties(schema, ["properties", "jwt", "additionalProperties", "properties"]) == Set(GatewayConfigDecoder.jwtKeys))
        #expect(properties(schema, ["properties", "jwt", "additionalProperties", "properties", "jwks", "properties"]) == Set(GatewayConfigDecoder.jwksKeys))
        #expect(properties(schema, ["properties", "login", "additionalProperties", "properties"]) == Set(GatewayConfigDecoder.loginKeys))
        #expect(properties(schema, ["properties", "login", "additionalProperties", "properties", "session", "properties"]) == Set(GatewayConfigDecoder.sessionKeys))
        #expect(properties(schema, ["properties", "routes", "items", "properties", "validate", "properties"]) == Set(GatewayConfigDecoder.validateKeys))
        #expect(properties(schema, ["properties", "access_log", "properties"]) == Set(GatewayConfigDecoder.accessLogKeys))
    }
}
