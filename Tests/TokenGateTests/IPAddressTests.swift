import NIOCore
import Testing
@testable import TokenGate

@Suite("IP addresses and CIDR networks")
struct IPAddressTests {
    @Test("addresses parse, print and compare as their bytes; IPv4-mapped IPv6 is IPv4")
    func parsing() throws {
        let v4 = try #require(IPAddress("192.168.10.7"))
        #expect(v4.isV4 && v4.bytes == [192, 168, 10, 7] && v4.description == "192.168.10.7")
        let mapped = try #require(IPAddress("::ffff:192.168.10.7"))
        #expect(mapped == v4)
        let v6 = try #require(IPAddress("2001:db8::1:ff"))
        #expect(!v6.isV4 && v6.count == 16 && v6.description == "2001:db8::1:ff")
        #expect(v6.bytes == [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0xff])
        #expect(IPAddress("256.1.1.1") == nil && IPAddress("example.com") == nil && IPAddress("") == nil)
        #expect(IPAddress("127.0.0.1")?.isLoopback == true && IPAddress("127.9.9.9")?.isLoopback == true)
        #expect(IPAddress("::1")?.isLoopback == true && IPAddress("::ffff:127.0.0.1")?.isLoopback == true)
        #expect(IPAddress("::2")?.isLoopback == false && IPAddress("10.0.0.1")?.isLoopback == false && IPAddress("::")?.isLoopback == false)
    }

    @Test("a peer's socket address gives the address its text gives")
    func fromSocketAddress() throws {
        let texts = ["10.1.2.3", "::1", "2001:db8::7", "::ffff:10.1.2.3"]
        #expect(!texts.isEmpty)
        for text in texts {
            let socket = try SocketAddress(ipAddress: text, port: 443)
            #expect(IPAddress(socket) == IPAddress(text), "\(text)")
        }
    }

    @Test("a network contains exactly the addresses that share its prefix, for every prefix length")
    func networks() throws {
        func contains(_ network: String, _ address: String) throws -> Bool {
            let cidr = try CIDR.parse(network).get()
            return cidr.contains(try #require(IPAddress(address)))
        }
        #expect(try contains("10.0.0.0/8", "10.255.1.2") && !contains("10.0.0.0/8", "11.0.0.1"))
        #expect(try contains("192.168.1.0/24", "192.168.1.255") && !contains("192.168.1.0/24", "192.168.2.0"))
        #expect(try contains("192.168.1.128/25", "192.168.1.200") && !contains("192.168.1.128/25", "192.168.1.127"))
        #expect(try contains("0.0.0.0/0", "8.8.8.8") && !contains("0.0.0.0/0", "::1"), "/0 holds its family only")
        #expect(try contains("10.0.0.7", "10.0.0.7") && !contains("10.0.0.7", "10.0.0.6"), "an address alone is /32")
        #expect(try contains("fd00::/8", "fdab::1") && !contains("fd00::/8", "fe00::1"))
        #expect(try contains("2001:db8::/64", "2001:db8::ffff:1") && !contains("2001:db8::/64", "2001:db8:0:1::1"))
        #expect(try contains("2001:db8::/65", "2001:db8::7fff:0:0:1") && !contains("2001:db8::/65", "2001:db8::8000:0:0:1"))
        #expect(try contains("2001:db8::1/128", "2001:db8::1") && !contains("2001:db8::1/128", "2001:db8::2"))
        #expect(try contains("::/0", "2001:db8::1") && !contains("::/0", "10.0.0.1"))
        #expect(try !contains("10.0.0.0/8", "::ffff:11.0.0.1") && contains("10.0.0.0/8", "::ffff:10.0.0.1"))
        #expect(throws: (any Error).self) { try CIDR.parse("10.0.0.0/33").get() }
        #expect(throws: (any Error).self) { try CIDR.parse("::/129").get() }
    }
}
