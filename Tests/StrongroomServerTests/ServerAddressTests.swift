import StrongroomClient
import StrongroomCore
import Testing

@Suite struct ServerAddressTests {
    @Test func unixForms() throws {
        #expect(try ServerAddress.parse("unix:/run/s.sock").kind == .unix(path: "/run/s.sock"))
        #expect(try ServerAddress.parse("unix:///run/s.sock").kind == .unix(path: "/run/s.sock"))
        #expect(try ServerAddress.parse("/run/s.sock").kind == .unix(path: "/run/s.sock"))
    }

    @Test func tcpForms() throws {
        #expect(try ServerAddress.parse("tcp://vault.example:8443").kind == .tcp(host: "vault.example", port: 8443))
        #expect(try ServerAddress.parse("127.0.0.1:9000").kind == .tcp(host: "127.0.0.1", port: 9000))
        #expect(try ServerAddress.parse("[::1]:9000").kind == .tcp(host: "::1", port: 9000))
    }

    @Test(arguments: ["unix:relative.sock", "vault.example", "host:0", "host:70000", ":8443", ""])
    func badAddressesAreRefusedByName(_ text: String) {
        #expect(throws: StrongroomError.self) { try ServerAddress.parse(text) }
    }
}
