import Foundation
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// docs/format.md's worked example, reproduced by the Swift implementation byte for byte. The
/// expected bytes were computed by scripts/format/worked_example.py, an independent implementation
/// written from docs/format.md alone.
@Suite struct EnvelopeFormatTests {
    static let seed = Array(UInt8(0x00)...UInt8(0x1f))
    static let vaultID = VaultID(bytes: Array(UInt8(0xa0)...UInt8(0xaf)))
    static let dataKey = Array(UInt8(0x40)...UInt8(0x5f))
    static let iv = Array(UInt8(0xc0)...UInt8(0xcb))
    static let expectedKEK = "c544b2cf061f98811b81a55de3bcdbbdd04c63b2cdf38799176108e32cc1d12b"
    static let expectedSeedCheck = "43dd2fcc8ce7ceeebddc92d152ba5116"
    static let expectedBlob =
        "5352534801010000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0b616c6963652d73686172650000000000000001000000006955b900"
        + "000d7b227061727479223a2231227d2061306131613261336134613561366137613861396161616261636164616561660000"
        + "0001000021090028e629e079f718c422fc2c0b2d476f5673b98e8ddaf66d75cef867709f06bf1f7ca6d2de3a61ba84960cc0"
        + "c1c2c3c4c5c6c7c8c9cacb000000122b2c42ab09f252871099575ecad1c7edbcc4f039737785e5a988deb03945a72c15f4"

    func keyring() throws -> LocalKeyring {
        try LocalKeyring(vaultID: EnvelopeFormatTests.vaultID, rootSeed: try EnvelopeFormatTests.seed.withUnsafeBytes { try SecretBytes(copying: $0) })
    }

    @Test func reproducesTheWorkedExample() throws {
        let keyring = try keyring()
        let kek = try keyring.kek(version: 1)
        #expect(kek.withUnsafeBytes { Hex.encode(Array($0)) } == EnvelopeFormatTests.expectedKEK)
        #expect(Hex.encode(try keyring.seedCheck()) == EnvelopeFormatTests.expectedSeedCheck)

        let share = try secret("threshold share #1")
        let dataKey = try EnvelopeFormatTests.dataKey.withUnsafeBytes { try SecretBytes(copying: $0) }
        let metadata = try ShareStore.encodeMetadata(["party": "1"])
        #expect(metadata == Array(#"{"party":"1"}"#.utf8))
        let id = try ShareID("alice-share")
        let aad = Envelope.associatedData(
            tierCode: Tier.local.code, vaultID: EnvelopeFormatTests.vaultID, shareID: id, shareVersion: 1, createdAt: 1_767_225_600,
            metadata: metadata)
        let sealed = try AESGCM.seal(share, key: dataKey, iv: EnvelopeFormatTests.iv, aad: aad)
        let envelope = Envelope(
            tierCode: Tier.local.code, vaultID: EnvelopeFormatTests.vaultID, shareID: id, shareVersion: 1, createdAt: 1_767_225_600,
            metadata: metadata, kekID: keyring.kekID,
            sealed: SealedShare(
                kekVersion: 1, wrapMechanism: 0x2109, wrappedKey: try AESKeyWrap.wrap(dataKey, kek: kek),
                iv: EnvelopeFormatTests.iv, ciphertext: sealed.ciphertext, tag: sealed.tag))
        #expect(Hex.encode(envelope.serialized()) == EnvelopeFormatTests.expectedBlob)
    }

    @Test func opensTheWorkedExampleThroughTheStore() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let keyring = try keyring()
        let blobs = DirectoryBlobStore(root: directory.path)
        let state = VaultState(
            vaultID: EnvelopeFormatTests.vaultID, tier: .local, kekID: keyring.kekID,
            seedCheck: EnvelopeFormatTests.expectedSeedCheck, createdAt: 0)
        _ = try await blobs.create(VaultState.key, try state.encoded())
        _ = try await blobs.create("shares/alice-share/1.srb", Hex.decode(EnvelopeFormatTests.expectedBlob)!)
        let store = ShareStore(vaultID: EnvelopeFormatTests.vaultID, keyring: keyring, blobs: blobs, logger: quietLogger)
        #expect(text(try await store.load(try ShareID("alice-share"))) == "threshold share #1")
        #expect(try await store.versions(try ShareID("alice-share"))[0].metadata == ["party": "1"])
    }

    /// The independent Python opener (scripts/format/open_local_blob.py) opens blobs the Swift store
    /// wrote, before and after a rotation: the document is enough to read the format.
    @Test func independentPythonOpenerReadsWhatSwiftWrote() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try ShareID("p-1"), secret("first share"), metadata: ["party": "1", "path": "a/b"])
        _ = try await store.store(try ShareID("p-1"), secret("second share"))
        func python(_ arguments: [String]) throws -> (Int32, String, String) {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/format/open_local_blob.py").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script] + arguments
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output, errors)
        }
        let base = ["--vault", fixture.settings.path, "--seed", fixture.settings.rootSeedFile, "--id", "p-1"]
        let latest = try python(base)
        #expect(latest.0 == 0, "python opener failed: \(latest.2)")
        #expect(latest.1 == "second share")
        _ = try await store.rotateWrappingKey()
        let first = try python(base + ["--version", "1"])
        #expect(first.0 == 0, "\(first.2)")
        #expect(first.1 == "first share")
        // And it refuses a blob Swift would refuse.
        let path = "\(fixture.settings.path)/shares/p-1/2.srb"
        var blob = try Data(contentsOf: URL(fileURLWithPath: path))
        blob[30] ^= 0x01
        try blob.write(to: URL(fileURLWithPath: path))
        let tampered = try python(base)
        #expect(tampered.0 == 2)
        #expect(tampered.2.contains("integrity"))

        blob[30] ^= 0x01
        try blob.write(to: URL(fileURLWithPath: path))

        // A sealed record opens the same way (share version 0 under the record's name).
        let record = Array(#"{"format":1,"group":"g"}"#.utf8)
        try await store.writeRecord(try ShareID("frost.g"), record)
        let opened = try python(["--vault", fixture.settings.path, "--seed", fixture.settings.rootSeedFile, "--record", "frost.g"])
        #expect(opened.0 == 0, "\(opened.2)")
        #expect(opened.1 == String(decoding: record, as: UTF8.self))
        // And a blob from before a finished rotation is refused from vault.json's active range.
        let firstPath = "\(fixture.settings.path)/shares/p-1/1.srb"
        let saved = try Data(contentsOf: URL(fileURLWithPath: firstPath))
        _ = try await store.rotateWrappingKey()
        try saved.write(to: URL(fileURLWithPath: firstPath))
        let stale = try python(base + ["--version", "1"])
        #expect(stale.0 == 2)
        #expect(stale.2.contains("outside the vault's active range"), "\(stale.2)")
    }
}
