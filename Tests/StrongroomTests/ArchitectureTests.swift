import Foundation
import Logging
import SecureCrypto
import Strongroom
import Testing

/// The seam is public for real: tiers live in modules of their own and use only the core's public API,
/// and a tier written outside those modules (ExampleTier/) joins through a registry line.
@Suite struct ArchitectureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func sources(of module: String) throws -> [(path: String, text: String)] {
        let directory = root.appendingPathComponent("Sources/\(module)")
        let names = try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }
        #expect(!names.isEmpty, "no sources under \(directory.path)")
        return try names.map { ($0, try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)) }
    }

    /// `package` declarations would let a tier module in this package use what one outside could not.
    /// The core has none, so its tiers (separate modules) can only use its public API; and no source
    /// file imports a module `@testable`.
    @Test(arguments: ["StrongroomCore", "StrongroomLocal", "StrongroomCloud", "StrongroomHSM", "Strongroom", "StrongroomConformance"])
    func moduleDeclaresNothingPackageWide(module: String) throws {
        let declaration = try Regex(#"(?m)^\s*(?:@\w+\s+)*package\s+(?:func|var|let|init|static|struct|enum|class|final|protocol|typealias|extension|subscript|actor)\b"#)
        for (path, text) in try ArchitectureTests.sources(of: module) {
            #expect(text.firstMatch(of: declaration) == nil, "\(module)/\(path) declares something with package access")
            #expect(!text.contains("@testable"), "\(module)/\(path) uses @testable")
        }
    }

    /// The core knows no tier: no tier module, AWS, PKCS#11 or NIO import, no tier name in code.
    @Test func coreImportsNoTier() throws {
        for (path, text) in try ArchitectureTests.sources(of: "StrongroomCore") {
            for module in ["StrongroomLocal", "StrongroomCloud", "StrongroomHSM", "AWSClient", "PKCS11", "NIO", "AsyncHTTPClient"] {
                #expect(!text.contains("import \(module)"), "StrongroomCore/\(path) imports \(module)")
            }
            #expect(!text.contains("DirectoryBlobStore") && !text.contains("S3BlobStore") && !text.contains("HSMKeyring"),
                    "StrongroomCore/\(path) names a tier's type")
        }
    }

    @Test func standardRegistryHoldsTheThreeTiers() {
        #expect(TierRegistry.standard.names == ["local", "cloud", "hsm"])
        #expect(TierRegistry.standard.provider(code: 3)?.tier == .hsm)
        #expect(TierRegistry.standard.provider(named: "example") == nil)
    }

    /// A fourth tier: one provider, one registry line; the configuration, `ShareStore.open`, the
    /// store API, rotation and its own error code all work through the public seam.
    @Test func aFourthTierJoinsThroughTheRegistry() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let registry = TierRegistry.standard.adding(ExampleTierProvider())
        let file = "\(directory.path)/example.yaml"
        try "tier: example\nexample:\n  path: \(directory.path)/vault\n  keyFile: \(directory.path)/example.key\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)

        let configuration = try await StrongroomConfiguration.load(filePath: file, environment: [:], registry: registry)
        #expect(configuration.tier == Tier(name: "example", code: 200))
        #expect("\(configuration)" == "tier: example, example.path: \(directory.path)/vault, example.keyFile: \(directory.path)/example.key")
        let created = try await configuration.provider.initialise(configuration: configuration, options: .init(), logger: quietLogger)

        let store = try await ShareStore.open(configuration: configuration, logger: quietLogger)
        #expect(store.vaultID == created.vaultID && store.tier.name == "example")
        let id = try ShareID("fourth-tier")
        _ = try await store.store(id, secret("a share in a tier the package does not ship"))
        #expect(try await store.rotateWrappingKey().rewrapped == 1)
        #expect(text(try await store.load(id)) == "a share in a tier the package does not ship")

        // The standard registry does not know it, and says which tiers it does know.
        let unknown = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: file, environment: [:])
        }
        #expect(unknown?.code == .configuration)
        #expect(unknown?.reason.contains("must be one of local, cloud, hsm") == true)

        // Its own error code, with its own exit status, declared outside the core.
        try FileManager.default.removeItem(atPath: "\(directory.path)/example.key")
        let missing = await #expect(throws: StrongroomError.self) {
            try await ShareStore.open(configuration: configuration, logger: quietLogger)
        }
        #expect(missing?.code.name == "example key file missing" && missing?.code.exitStatus == 66)

        // Its settings come from the environment like any tier's.
        let local = try await StrongroomConfiguration.load(
            filePath: nil, environment: ["STRONGROOM_TIER": "example", "STRONGROOM_EXAMPLE_PATH": "\(directory.path)/vault",
                                        "STRONGROOM_EXAMPLE_KEY_FILE": "\(directory.path)/k"], registry: registry)
        #expect(local.settings is ExampleSettings)
    }

    /// Errors compare by code only, whatever their wording or cause.
    @Test func errorsAreEqualByCode() {
        let a = StrongroomError(.io, "one thing", cause: "EIO")
        let b = StrongroomError(.io, "another thing")
        #expect(a == b && a.hashValue == b.hashValue)
        #expect(a != StrongroomError(.crypto, "one thing"))
        #expect(StrongroomError.Code.hsmUnavailable.exitStatus == 69 && StrongroomError.Code.cloudUnavailable.exitStatus == 69)
    }
}
