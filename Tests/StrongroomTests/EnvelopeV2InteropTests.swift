import Foundation
import Strongroom
import Testing

@testable import SecureCrypto
@testable import StrongroomCore
@testable import StrongroomLocal

/// Envelope v2 between the two implementations: the worked example made by the independent Python
/// implementation (scripts/format/worked_example_v2.py, written from docs/format.md and RFC 9180;
/// its values in `EnvelopeV2Example`) against the Swift code, and the Python recovery opener
/// (scripts/format/open_recovery_blob.py) run as a user would.
@Suite struct EnvelopeV2InteropTests {
    typealias V = EnvelopeV2Example

    static let formatDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/format").path

    /// Runs `python3 scripts/format/<script> arguments`: (status, stdout, stderr).
    static func python(_ script: String, _ arguments: [String]) throws -> (
        status: Int32, output: String, errors: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "\(formatDirectory)/\(script)"] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output, errors)
    }

    static func secretBytes(_ hex: String) throws -> SecretBytes {
        try Hex.decode(hex)!.withUnsafeBytes { try SecretBytes(copying: $0) }
    }

    /// EnvelopeV2Example.swift is what the script prints now: the fixture cannot drift from the
    /// independent implementation unnoticed.
    @Test func fixtureIsWhatTheIndependentImplementationPrints() throws {
        let printed = try Self.python("worked_example_v2.py", ["--swift-fixture"])
        #expect(printed.status == 0, "worked_example_v2.py failed: \(printed.errors)")
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "EnvelopeV2Example.swift")
        let current = try String(contentsOf: fixture, encoding: .utf8)
        #expect(
            printed.output == current,
            "regenerate Tests/StrongroomTests/EnvelopeV2Example.swift with worked_example_v2.py --swift-fixture")
    }

    /// The Python implementation's own unit tests (scripts/format/test_envelope_v2.py): the strict v2
    /// parser refuses every malformed layout, the recovery opener every mismatch, v1 still opens.
    @Test func independentImplementationUnitTestsPass() throws {
        let result = try Self.python("test_envelope_v2.py", [])
        #expect(result.status == 0, "test_envelope_v2.py failed: \(result.errors)")
        #expect(result.errors.contains("OK"), "\(result.errors)")
    }

    /// The recovery section's values follow from the spec with Swift's own HPKE and recovery key: the
    /// fingerprint, the public key, and the sealed data key byte for byte (with the example's fixed
    /// ephemeral key), and Swift's HPKE opens the Python-sealed data key.
    @Test func swiftHPKEAgreesWithThePythonRecoverySection() throws {
        let privateKey = try Self.secretBytes(V.recoveryPrivateKeyHex)
        let recoveryKey = try RecoveryPublicKey(privateKey: privateKey)
        #expect(Hex.encode(recoveryKey.bytes) == V.recoveryPublicKeyHex)
        #expect(Hex.encode(recoveryKey.fingerprint) == V.fingerprintHex)

        let info: [UInt8] =
            Array("strongroom/recovery/v2".utf8) + Hex.decode(V.vaultIDHex)! + [UInt8(V.shareID.utf8.count)]
            + Array(V.shareID.utf8) + withUnsafeBytes(of: V.shareVersion.bigEndian) { Array($0) }
        #expect(Hex.encode(info) == V.hpkeInfoHex)
        let header = Hex.decode(V.headerHex)!
        let blob = Hex.decode(V.blobHex)!
        #expect(Array(blob.prefix(header.count)) == header)

        let sealed = try HPKE.seal(
            to: recoveryKey.bytes, info: info, aad: header, plaintext: try Self.secretBytes(V.dataKeyHex),
            aead: .aes256GCM,
            ephemeralKey: try Self.secretBytes(V.ephemeralPrivateKeyHex))
        #expect(Hex.encode(sealed.enc) == V.encHex)
        #expect(Hex.encode(sealed.ciphertext) == V.sealedDataKeyHex)
        let opened = try HPKE.open(
            HPKE.Sealed(enc: Hex.decode(V.encHex)!, ciphertext: Hex.decode(V.sealedDataKeyHex)!),
            privateKey: privateKey,
            info: info, aad: header)
        let dataKey = try Self.secretBytes(V.dataKeyHex)
        #expect(opened == dataKey)
    }

    /// The Swift store opens the Python-made v2 blob through its tier section with the root seed, as
    /// every reader opens v1 and v2. (Needs the Swift envelope v2 reader of the RECFMT lane.)
    @Test func swiftStoreOpensThePythonMadeV2Blob() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let vaultID = VaultID(bytes: Hex.decode(V.vaultIDHex)!)
        let keyring = try LocalKeyring(vaultID: vaultID, rootSeed: try Self.secretBytes(V.rootSeedHex))
        let blobs = DirectoryBlobStore(root: directory.path)
        let state = VaultState(
            vaultID: vaultID, tier: .local, kekID: keyring.kekID, seedCheck: Hex.encode(try keyring.seedCheck()),
            createdAt: 0)
        _ = try await blobs.create(VaultState.key, try state.encoded())
        _ = try await blobs.create("shares/\(V.shareID)/\(V.shareVersion).srb", Hex.decode(V.blobHex)!)
        let store = ShareStore(vaultID: vaultID, keyring: keyring, blobs: blobs, logger: quietLogger)
        #expect(text(try await store.load(try ShareID(V.shareID))) == V.plaintext)
        #expect(try await store.versions(try ShareID(V.shareID))[0].metadata == ["party": "1"])
    }

    /// open_recovery_blob.py opens the example with the recovery private key alone, and refuses a
    /// wrong key, an altered recovery section, a stripped recovery section and a blob of another share.
    @Test func pythonRecoveryOpenerOpensTheExampleAndRefusesTampering() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let keyPath = "\(directory.path)/recovery.key"
        #expect(
            FileManager.default.createFile(
                atPath: keyPath, contents: Data(Hex.decode(V.recoveryPrivateKeyHex)!),
                attributes: [.posixPermissions: 0o600]))
        let blob = Hex.decode(V.blobHex)!
        let blobPath = "\(directory.path)/blob.srb"
        func open(_ bytes: [UInt8], key: String, shareID: String = V.shareID) throws -> (
            status: Int32, output: String, errors: String
        ) {
            let path = blobPath
            try? FileManager.default.removeItem(atPath: path)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return try Self.python(
                "open_recovery_blob.py",
                [
                    "--private-key-file", key, "--vault-id", V.vaultIDHex, "--share-id", shareID, "--version",
                    "\(V.shareVersion)",
                    path,
                ])
        }
        let opened = try open(blob, key: keyPath)
        #expect(opened.status == 0, "\(opened.errors)")
        #expect(opened.output == V.plaintext)

        let otherKey = "\(directory.path)/other.key"
        let otherKeyBytes: [UInt8] = try X25519.generatePrivateKey().withUnsafeBytes { Array($0) }
        #expect(
            FileManager.default.createFile(
                atPath: otherKey, contents: Data(Hex.encode(otherKeyBytes).utf8), attributes: [.posixPermissions: 0o600]
            ))
        let wrongKey = try open(blob, key: otherKey)
        #expect(wrongKey.status == 2)
        #expect(
            wrongKey.errors.contains("sealed to the recovery key with fingerprint \(V.fingerprintHex)"),
            "\(wrongKey.errors)")

        // The recovery section spans offsets 154..<275 (kind, length, body); the enc, the sealed data key.
        for offset in [157, 163, 200, 240, 274] {
            var altered = blob
            altered[offset] ^= 0x01
            let refused = try open(altered, key: keyPath)
            #expect(refused.status == 2, "offset \(offset)")
            #expect(refused.errors.contains("integrity"), "offset \(offset): \(refused.errors)")
        }
        // Without its recovery section (section count 1) the blob no longer opens with the recovery key.
        let stripped: [UInt8] = Array(blob[..<67]) + [1] + Array(blob[68..<154]) + Array(blob[275...])
        let strippedResult = try open(stripped, key: keyPath)
        #expect(strippedResult.status == 2)
        #expect(strippedResult.errors.contains("without a recovery section"), "\(strippedResult.errors)")
        let otherShare = try open(blob, key: keyPath, shareID: "bob-share")
        #expect(otherShare.status == 2)
        #expect(otherShare.errors.contains("expected 'bob-share'"), "\(otherShare.errors)")

        // A group/other-readable private key file is refused before anything is read.
        #expect(chmod(keyPath, 0o644) == 0)
        let exposed = try open(blob, key: keyPath)
        #expect(exposed.status == 2)
        #expect(exposed.errors.contains("allows group/other access"), "\(exposed.errors)")
    }
}
