import AWSClient
import Foundation
@testable import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal
import StrongroomConformance

/// A recovery key pair for tests: the private key in locked memory, the public key beside it.
struct RecoveryPair {
    let privateKey: SecretBytes
    let publicKey: RecoveryPublicKey
    init() throws {
        privateKey = try X25519.generatePrivateKey()
        publicKey = try RecoveryPublicKey(privateKey: privateKey)
    }
}

/// Envelope format v2 (docs/format.md): layout, strict parsing, the recovery section's bindings.
@Suite struct EnvelopeV2Tests {
    static let vaultID = VaultID(bytes: Array(UInt8(0xa0)...UInt8(0xaf)))

    /// A sealed v2 envelope of tier 1 for (share, version), with the store's seal path.
    func sealed(
        _ pair: RecoveryPair, share: String = "alice", version: UInt64 = 1, vaultID: VaultID = EnvelopeV2Tests.vaultID
    ) async throws -> (Envelope, LocalKeyring) {
        let keyring = try LocalKeyring(vaultID: vaultID, rootSeed: try SecureRandom.secretBytes(count: 32))
        let id = try ShareID(share)
        let dataKey = try SecureRandom.secretBytes(count: 32)
        let header = Envelope.header(
            formatVersion: 2, tierCode: Tier.local.code, vaultID: vaultID, shareID: id, shareVersion: version,
            createdAt: 1_767_225_600, metadata: Array(#"{"k":"v"}"#.utf8))
        let section = try RecoverySection.seal(
            dataKey, to: pair.publicKey, vaultID: vaultID, shareID: id, shareVersion: version, header: header)
        let sealed = try await keyring.seal(
            try secret("share \(share) \(version)"), dataKey: dataKey, associatedData: header + section.serialized(),
            kekVersion: 1)
        let envelope = Envelope(
            tierCode: Tier.local.code, vaultID: vaultID, shareID: id, shareVersion: version, createdAt: 1_767_225_600,
            metadata: Array(#"{"k":"v"}"#.utf8), kekID: keyring.kekID, sealed: sealed, recovery: section)
        return (envelope, keyring)
    }

    /// docs/format.md's v2 worked example, computed from the document in Python (`cryptography`,
    /// the HPKE step checked with `pyhpke`), reproduced byte for byte; it opens through both sections.
    @Test func reproducesTheV2WorkedExample() async throws {
        let expected =
            "5352534802010000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0b616c6963652d73686172650000000000000001000000006955b900000d7b227061727479223a2231227d0201005320613061316132613361346135613661376138613961616162616361646165616600000001000021090028e629e079f718c422fc2c0b2d476f5673b98e8ddaf66d75cef867709f06bf1f7ca6d2de3a61ba849602007600200001000216786d4e5ef744112f1ac45c977dffe54d67cc9de645ef8cfed3dea798f0c04e493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531ddf7eaffbec91f092aaacacf9e89f1d3a8e180884179aef261a7d853f0ca0ba5572997795538a2492b401e0f7be83a3360cc0c1c2c3c4c5c6c7c8c9cacb000000122b2c42ab09f252871099575ecad1c7edbcc4ae5e8f36a83c7867645175433d4426e3"
        func secretBytes(_ range: ClosedRange<UInt8>) throws -> SecretBytes {
            try Array(range).withUnsafeBytes { try SecretBytes(copying: $0) }
        }
        let keyring = try LocalKeyring(vaultID: EnvelopeV2Tests.vaultID, rootSeed: try secretBytes(0x00...0x1f))
        let dataKey = try secretBytes(0x40...0x5f)
        let recoveryPrivate = try secretBytes(0x60...0x7f)
        let recovery = try RecoveryPublicKey(privateKey: recoveryPrivate)
        #expect(Hex.encode(recovery.fingerprint) == "16786d4e5ef744112f1ac45c977dffe54d67cc9de645ef8cfed3dea798f0c04e")
        let id = try ShareID("alice-share")
        let metadata = Array(#"{"party":"1"}"#.utf8)
        let header = Envelope.header(
            formatVersion: 2, tierCode: Tier.local.code, vaultID: EnvelopeV2Tests.vaultID, shareID: id, shareVersion: 1,
            createdAt: 1_767_225_600, metadata: metadata)
        let hpke = try HPKE.seal(
            to: recovery.bytes, info: RecoverySection.info(vaultID: EnvelopeV2Tests.vaultID, shareID: id, shareVersion: 1),
            aad: header, plaintext: dataKey, aead: .aes256GCM, ephemeralKey: try secretBytes(0x80...0x9f))
        let section = RecoverySection(fingerprint: recovery.fingerprint, enc: hpke.enc, sealedDataKey: hpke.ciphertext)
        let iv = Array(UInt8(0xc0)...UInt8(0xcb))
        let sealed = try AESGCM.seal(try secret("threshold share #1"), key: dataKey, iv: iv, aad: header + section.serialized())
        let envelope = Envelope(
            tierCode: Tier.local.code, vaultID: EnvelopeV2Tests.vaultID, shareID: id, shareVersion: 1,
            createdAt: 1_767_225_600, metadata: metadata, kekID: keyring.kekID,
            sealed: SealedShare(
                kekVersion: 1, wrapMechanism: 0x2109, wrappedKey: try AESKeyWrap.wrap(dataKey, kek: try keyring.kek(version: 1)),
                iv: iv, ciphertext: sealed.ciphertext, tag: sealed.tag),
            recovery: section)
        #expect(Hex.encode(envelope.serialized()) == expected)
        // The store's tier opens it, and so does the recovery reader with the private key alone.
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let blobs = DirectoryBlobStore(root: directory.path)
        _ = try await blobs.create("shares/alice-share/1.srb", Hex.decode(expected)!)
        let reader = try RecoveryBlobReader(blobs: blobs, privateKey: recoveryPrivate)
        #expect(text(try await reader.open(id, version: 1)) == "threshold share #1")
        let parsed = try Envelope(parsing: Hex.decode(expected)!)
        #expect(text(try await keyring.open(parsed.sealed, associatedData: parsed.associatedData)) == "threshold share #1")
    }

    @Test func roundTripsAndOpensThroughBothSections() async throws {
        let pair = try RecoveryPair()
        let (envelope, keyring) = try await sealed(pair)
        let bytes = envelope.serialized()
        #expect(bytes[4] == 2)
        let parsed = try Envelope(parsing: bytes)
        #expect(parsed == envelope)
        #expect(parsed.serialized() == bytes)
        #expect(text(try await keyring.open(parsed.sealed, associatedData: parsed.associatedData)) == "share alice 1")
        // Through the recovery section, with nothing but the private key.
        let section = try #require(parsed.recovery)
        #expect(section.fingerprint == pair.publicKey.fingerprint)
        let dataKey = try section.openDataKey(
            privateKey: pair.privateKey, vaultID: EnvelopeV2Tests.vaultID, shareID: parsed.shareID, shareVersion: 1,
            header: parsed.header, what: "test")
        #expect(text(try parsed.sealed.openCiphertext(dataKey: dataKey, associatedData: parsed.associatedData)) == "share alice 1")
        // The identity tier 2 binds into the KMS context reads v2 associated data too.
        let identity = try #require(Envelope.identity(fromAssociatedData: parsed.associatedData))
        #expect(identity.vaultID == EnvelopeV2Tests.vaultID && identity.shareID.rawValue == "alice" && identity.shareVersion == 1)
    }

    /// Every malformation of the key section list is an integrity failure.
    @Test func refusesEveryMalformation() async throws {
        let (envelope, _) = try await sealed(try RecoveryPair())
        let bytes = envelope.serialized()
        let headerLength = envelope.header.count
        let tierBody = bytes[(headerLength + 4)...].prefix(Int(bytes[headerLength + 2]) << 8 | Int(bytes[headerLength + 3]))
        let recoveryStart = headerLength + 4 + tierBody.count
        var cases: [(String, [UInt8])] = []
        func altered(_ what: String, _ change: (inout [UInt8]) -> Void) {
            var copy = bytes
            change(&copy)
            cases.append((what, copy))
        }
        altered("section count 0") { $0[headerLength] = 0 }
        altered("section count 3") { $0[headerLength] = 3 }
        altered("first section not the tier's") { $0[headerLength + 1] = 2 }
        altered("unknown first kind") { $0[headerLength + 1] = 7 }
        altered("tier section length too long") { $0[headerLength + 3] &+= 1 }
        altered("tier section length too short") { $0[headerLength + 3] &-= 1 }
        altered("second section of the tier's kind") { $0[recoveryStart] = 1 }
        altered("unknown second kind") { $0[recoveryStart] = 9 }
        altered("recovery section length") { $0[recoveryStart + 2] &+= 1 }
        altered("kem id") { $0[recoveryStart + 4] ^= 1 }
        altered("kdf id") { $0[recoveryStart + 6] ^= 1 }
        altered("aead id 0x0001") { $0[recoveryStart + 8] = 1 }
        altered("a third section appended after the recovery section") { copy in
            copy[headerLength] = 3
            copy.insert(contentsOf: [3, 0, 0], at: recoveryStart + 3 + RecoverySection.bodySize)
        }
        altered("trailing byte") { $0.append(0) }
        altered("truncated") { $0.removeLast() }
        altered("format version 3") { $0[4] = 3 }
        for (what, malformed) in cases {
            #expect(throws: StrongroomError.self, "\(what)") { try Envelope(parsing: malformed) }
            do {
                _ = try Envelope(parsing: malformed)
            } catch {
                #expect(error.code == .integrityCheckFailed, "\(what)")
            }
        }
        // A v2 envelope with the tier's section only parses, and writes back as it was read.
        var single = bytes
        single.removeSubrange(recoveryStart..<(recoveryStart + 3 + RecoverySection.bodySize))
        single[headerLength] = 1
        let parsed = try Envelope(parsing: single)
        #expect(parsed.recovery == nil && parsed.formatVersion == 2 && parsed.serialized() == single)
    }

    /// The HPKE info binds the vault id, the share id and the share version: a section sealed with
    /// the right aad (the header) but the info of another vault, share or version does not open.
    @Test(arguments: ["vault", "share", "version"])
    func infoBindsVaultShareAndVersion(_ what: String) async throws {
        let pair = try RecoveryPair()
        let (envelope, _) = try await sealed(pair)
        let dataKey = try SecureRandom.secretBytes(count: 32)
        let otherVault = what == "vault" ? VaultID(bytes: Array(repeating: 7, count: 16)) : envelope.vaultID
        let otherShare = what == "share" ? try ShareID("bob") : envelope.shareID
        let otherVersion: UInt64 = what == "version" ? 2 : 1
        let forged = try RecoverySection.seal(
            dataKey, to: pair.publicKey, vaultID: otherVault, shareID: otherShare, shareVersion: otherVersion,
            header: envelope.header)
        #expect(throws: StrongroomError.self) {
            try forged.openDataKey(
                privateKey: pair.privateKey, vaultID: envelope.vaultID, shareID: envelope.shareID, shareVersion: 1,
                header: envelope.header, what: "alice version 1")
        }
        // The same seal with the right info opens: only the binding differs.
        let right = try RecoverySection.seal(
            dataKey, to: pair.publicKey, vaultID: envelope.vaultID, shareID: envelope.shareID, shareVersion: 1,
            header: envelope.header)
        #expect(try right.openDataKey(
            privateKey: pair.privateKey, vaultID: envelope.vaultID, shareID: envelope.shareID, shareVersion: 1,
            header: envelope.header, what: "alice version 1") == dataKey)
    }

    @Test func oldVaultStateWithoutRecoveryDecodes() throws {
        let old = #"{"createdAt":1,"currentKEKVersion":1,"format":1,"kekID":"k","oldestActiveKEKVersion":1,"tier":"local","vaultID":"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"}"#
        let state = try VaultState.decode(Array(old.utf8), location: "test")
        #expect(state.recovery == nil && state.pendingRecovery == nil)
        #expect(try state.recoveryKeyForNewBlobs() == nil)
        // Written back without recovery fields at all.
        #expect(!String(decoding: try state.encoded(), as: UTF8.self).contains("recovery"))
    }
}

/// The recovery key in the store, on every tier.
@Suite struct RecoveryKeyStoreTests {
    @Test(arguments: TierUnderTest.allCases)
    func storeLoadRotateAndReadThroughTheRecoveryKey(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            let pair = try RecoveryPair()
            // Shares and a record written before the enrolment are v1…
            _ = try await store.store(try id("before"), try secret("old share"), metadata: ["a": "b"])
            try await store.writeRecord(try id("group"), Array("public record".utf8))
            let blobs = try await fixture.blobStore()
            #expect(try await blobs.read(ShareStore.blobKey(try id("before"), 1))!.bytes[4] == 1)
            #expect(try await store.status().versionsWithoutRecovery == 0)
            let report = try await store.enrolRecoveryKey(pair.publicKey)
            #expect(report.resealed == 2 && report.alreadyEnrolled == 0 && report.failedCount == 0)
            // … and v2 afterwards, metadata and creation time kept.
            let before = try Envelope(parsing: try await blobs.read(ShareStore.blobKey(try id("before"), 1))!.bytes)
            #expect(before.formatVersion == 2 && before.recovery?.fingerprint == pair.publicKey.fingerprint)
            _ = try await store.store(try id("after"), try secret("new share"))
            _ = try await store.store(try id("after"), try secret("new share 2"))
            #expect(text(try await store.load(try id("before"))) == "old share")
            #expect(text(try await store.load(try id("after"))) == "new share 2")
            #expect(try await store.readRecord(try id("group")) == Array("public record".utf8))
            let status = try await store.status()
            #expect(status.recoveryFingerprint == Hex.encode(pair.publicKey.fingerprint))
            #expect(status.versionsWithoutRecovery == 0 && status.pendingRecoveryFingerprint == nil)
            // A second pass has nothing to do.
            let again = try await store.enrolRecoveryKey(pair.publicKey)
            #expect(again.resealed == 0 && again.alreadyEnrolled == 4)
            // Rotated twice: every blob still opens through its recovery section.
            _ = try await store.rotateWrappingKey()
            _ = try await store.rotateWrappingKey()
            let reader = try RecoveryBlobReader(blobs: blobs, privateKey: pair.privateKey)
            var seen: [String] = []
            try await reader.forEachVersion { version in
                let opened = try await reader.open(version.id, version: version.version)
                seen.append("\(version.id)/\(version.version)=\(text(opened))")
                #expect(version.vaultID == store.vaultID)
            }
            #expect(seen.sorted() == [
                "after/1=new share", "after/2=new share 2", "before/1=old share", "group/0=public record",
            ])
        }
    }

    /// Tier 1: a `cp -a` of the vault directory opens with the private key alone after the root seed
    /// is gone; the copy is not written to.
    @Test func plainCopyOfATier1VaultOpensAfterTheRootSeedIsDeleted() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let pair = try RecoveryPair()
        _ = try await store.enrolRecoveryKey(pair.publicKey)
        for share in 0..<5 {
            _ = try await store.store(try id("s-\(share)"), try secret("secret \(share)"), metadata: ["n": "\(share)"])
        }
        let copy = "\(fixture.directory.path)/copy"
        let cp = Process()
        cp.executableURL = URL(fileURLWithPath: "/bin/cp")
        cp.arguments = ["-a", fixture.settings.path, copy]
        try cp.run()
        cp.waitUntilExit()
        #expect(cp.terminationStatus == 0)
        try FileManager.default.removeItem(atPath: fixture.settings.rootSeedFile)
        await #expect(throws: (any Error).self) { _ = try await fixture.open() }
        // Without vault.json too: the vault id comes from the envelopes.
        try FileManager.default.removeItem(atPath: "\(copy)/\(VaultState.key)")
        let listing = try snapshot(copy)
        let reader = try RecoveryBlobReader(blobs: DirectoryBlobStore(root: copy), privateKey: pair.privateKey)
        var count = 0
        try await reader.forEachVersion { version in
            let n = version.id.rawValue.dropFirst(2)
            let opened = try await reader.open(version.id, version: version.version)
            #expect(text(opened) == "secret \(n)")
            #expect(ShareStore.decodeMetadata(version.metadata) == ["n": String(n)])
            count += 1
        }
        #expect(count == 5)
        #expect(try snapshot(copy) == listing)
        // Without vault.json the walk fixes the vault: a blob of another vault put into the copy is
        // an error naming it, for the walk and for an open.
        let otherFixture = try await LocalFixture()
        defer { Task { await otherFixture.tearDown() } }
        let otherStore = try await otherFixture.open()
        _ = try await otherStore.enrolRecoveryKey(pair.publicKey)
        _ = try await otherStore.store(try id("s-9"), try secret("another vault"))
        try FileManager.default.createDirectory(atPath: "\(copy)/shares/s-9", withIntermediateDirectories: false)
        try FileManager.default.copyItem(
            atPath: "\(otherFixture.settings.path)/shares/s-9/1.srb", toPath: "\(copy)/shares/s-9/1.srb")
        await #expect(throws: StrongroomError.self) { _ = try await reader.open(try id("s-9"), version: 1) }
        let walkError = await #expect(throws: StrongroomError.self) { try await reader.forEachVersion { _ in } }
        #expect(walkError?.reason.contains("belongs to vault") == true)
        // Another recovery key is a clear error naming the blob.
        let other = try RecoveryBlobReader(blobs: DirectoryBlobStore(root: copy), privateKey: try X25519.generatePrivateKey())
        do {
            _ = try await other.open(try id("s-1"), version: 1)
            Issue.record("another recovery key opened the blob")
        } catch let error as StrongroomError {
            #expect(error.code == .notRecoverable && error.reason.contains("shares/s-1/1.srb"))
        }
    }

    /// Every file under `path` with its size and modification time.
    func snapshot(_ path: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(path)/\(name)")
            result[name] = "\(attributes[.size] ?? 0) \(attributes[.modificationDate] ?? 0)"
        }
        return result
    }

    /// A v1 blob (written before the enrolment finished) is a clear error naming it; a share version
    /// whose recovery section is swapped from another share or version is refused.
    @Test func readerRefusesV1AndSwappedSections() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try id("old"), try secret("v1 share"))
        let pair = try RecoveryPair()
        let blobs = try await fixture.blobStore()
        // Journal the enrolment without running the pass: the old blob stays v1.
        let crashing = try await fixture.open(faults: FaultInjection { if $0 == .recoveryJournalWritten { throw SimulatedCrash() } })
        await #expect(throws: SimulatedCrash.self) { _ = try await crashing.enrolRecoveryKey(pair.publicKey) }
        _ = try await store.store(try id("a"), try secret("share a"))
        _ = try await store.store(try id("a"), try secret("share a 2"))
        _ = try await store.store(try id("b"), try secret("share b"))
        let reader = try RecoveryBlobReader(blobs: blobs, privateKey: pair.privateKey)
        do {
            _ = try await reader.open(try id("old"), version: 1)
            Issue.record("a v1 blob opened through a recovery section")
        } catch let error as StrongroomError {
            #expect(error.code == .notRecoverable && error.reason.contains("shares/old/1.srb") && error.reason.contains("no recovery section"))
        }
        #expect(text(try await reader.open(try id("a"), version: 2)) == "share a 2")
        // Swap the recovery section of b/1 and a/1 into a/2.
        func section(_ key: String) async throws -> (bytes: [UInt8], range: Range<Int>) {
            let bytes = try await blobs.read(key)!.bytes
            let envelope = try Envelope(parsing: bytes)
            let serialized = envelope.recovery!.serialized()
            let start = bytes.count - 16 - envelope.sealed.ciphertext.count - 4 - 13 - serialized.count
            #expect(Array(bytes[start..<(start + serialized.count)]) == serialized)
            return (bytes, start..<(start + serialized.count))
        }
        let target = ShareStore.blobKey(try id("a"), 2)
        let original = try await section(target)
        for donor in [ShareStore.blobKey(try id("b"), 1), ShareStore.blobKey(try id("a"), 1)] {
            let other = try await section(donor)
            var swapped = original.bytes
            swapped.replaceSubrange(original.range, with: other.bytes[other.range])
            _ = try await blobs.replace(target, swapped, ifRevision: nil)
            await #expect(throws: StrongroomError.self) { _ = try await reader.open(try id("a"), version: 2) }
            await #expect(throws: StrongroomError.self) { _ = try await store.load(try id("a"), version: 2) }
        }
        _ = try await blobs.replace(target, original.bytes, ifRevision: nil)
        #expect(text(try await reader.open(try id("a"), version: 2)) == "share a 2")
    }

    /// A recovery section from another vault (same recovery key) is refused: the info and the
    /// header name the vault.
    @Test func readerRefusesASectionFromAnotherVault() async throws {
        let first = try await LocalFixture()
        let second = try await LocalFixture()
        defer { Task { await first.tearDown(); await second.tearDown() } }
        let pair = try RecoveryPair()
        let storeA = try await first.open()
        let storeB = try await second.open()
        _ = try await storeA.enrolRecoveryKey(pair.publicKey)
        _ = try await storeB.enrolRecoveryKey(pair.publicKey)
        _ = try await storeA.store(try id("x"), try secret("vault A"))
        _ = try await storeB.store(try id("x"), try secret("vault B"))
        let blobsA = try await first.blobStore()
        let blobsB = try await second.blobStore()
        let key = ShareStore.blobKey(try id("x"), 1)
        let a = try Envelope(parsing: try await blobsA.read(key)!.bytes)
        let b = try Envelope(parsing: try await blobsB.read(key)!.bytes)
        var forged = a
        forged.recovery = b.recovery
        _ = try await blobsA.replace(key, forged.serialized(), ifRevision: nil)
        let reader = try RecoveryBlobReader(blobs: blobsA, privateKey: pair.privateKey)
        await #expect(throws: StrongroomError.self) { _ = try await reader.open(try id("x"), version: 1) }
        // The whole blob of vault B copied into vault A's copy names the other vault.
        _ = try await blobsA.replace(key, try await blobsB.read(key)!.bytes, ifRevision: nil)
        do {
            _ = try await reader.open(try id("x"), version: 1)
            Issue.record("a blob of another vault opened")
        } catch let error as StrongroomError {
            #expect(error.reason.contains("belongs to vault"))
        }
    }

    /// Tier 2: the S3 prefix read straight through S3BlobStore after the KMS key is disabled.
    @Test func tier2PrefixOpensWithTheKMSKeyDisabled() async throws {
        let fixture = try await CloudFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let pair = try RecoveryPair()
        _ = try await store.enrolRecoveryKey(pair.publicKey)
        _ = try await store.store(try id("c"), try secret("cloud share"))
        _ = try await store.rotateWrappingKey()
        _ = try await store.store(try id("c"), try secret("cloud share 2"))
        let blobs = try await fixture.blobStore()
        // Every blob is under KEK version 2 now, a key the rotation made for this vault alone:
        // disable it (the shared test key of version 1 stays as it is for the other tests).
        let map = try JSONSerialization.jsonObject(with: Data(try await blobs.read("kms-keys.json")!.bytes)) as? [String: Any]
        let entries = map?["keys"] as? [[String: Any]] ?? []
        let current = try #require(entries.first { $0["version"] as? Int == 2 }?["keyID"] as? String)
        // By key id: moto answers DisableKey with an ARN with HTTP 500.
        try await fixture.environment.kmsClient().disableKey(String(current.split(separator: "/").last ?? ""))
        await #expect(throws: (any Error).self) { _ = try await fixture.open().load(try id("c"), version: 1) }
        let reader = try RecoveryBlobReader(blobs: blobs, privateKey: pair.privateKey)
        #expect(text(try await reader.open(try id("c"), version: 1)) == "cloud share")
        #expect(text(try await reader.open(try id("c"), version: 2)) == "cloud share 2")
    }

    /// Tier 3: after the vault's KEKs are destroyed on the token, the blob directory still opens.
    @Test func tier3BlobsOpenAfterTheKEKsAreDestroyed() async throws {
        let fixture = try await HSMFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let pair = try RecoveryPair()
        _ = try await store.store(try id("h"), try secret("hsm share"))
        _ = try await store.enrolRecoveryKey(pair.publicKey)
        _ = try await store.store(try id("h"), try secret("hsm share 2"))
        try await HSMVault.destroyKeys(fixture.settings, logger: quietLogger)
        await #expect(throws: (any Error).self) { _ = try await store.load(try id("h")) }
        let reader = try RecoveryBlobReader(blobs: DirectoryBlobStore(root: fixture.settings.blobPath), privateKey: pair.privateKey)
        #expect(text(try await reader.open(try id("h"), version: 1)) == "hsm share")
        #expect(text(try await reader.open(try id("h"), version: 2)) == "hsm share 2")
    }

    static let enrolmentCrashPoints: [FaultPoint] = [
        .recoveryJournalWritten, .recoveryBeforeReplace(index: 0), .recoveryAfterReplace(index: 0),
        .recoveryBeforeReplace(index: 3), .recoveryAfterReplace(index: 5), .recoveryBeforeFinish,
    ]

    /// An enrolment killed at each point: every share still loads, new stores carry the new key's
    /// section, status shows it pending, and a second call finishes it.
    @Test(arguments: enrolmentCrashPoints)
    func enrolmentResumesAfterACrash(at point: FaultPoint) async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        for share in 0..<6 { _ = try await store.store(try id("s\(share)"), try secret("secret \(share)")) }
        let pair = try RecoveryPair()
        let crashing = try await fixture.open(faults: FaultInjection { if $0 == point { throw SimulatedCrash() } })
        await #expect(throws: SimulatedCrash.self) { _ = try await crashing.enrolRecoveryKey(pair.publicKey) }
        let fresh = try await fixture.open()
        for share in 0..<6 { #expect(text(try await fresh.load(try id("s\(share)"))) == "secret \(share)") }
        let pending = try await fresh.status()
        #expect(pending.pendingRecoveryFingerprint == Hex.encode(pair.publicKey.fingerprint))
        #expect(pending.recoveryFingerprint == nil)
        _ = try await fresh.store(try id("during"), try secret("written while pending"))
        let blobs = try await fixture.blobStore()
        let during = try Envelope(parsing: try await blobs.read(ShareStore.blobKey(try id("during"), 1))!.bytes)
        #expect(during.recovery?.fingerprint == pair.publicKey.fingerprint)
        let report = try await fresh.enrolRecoveryKey(pair.publicKey)
        #expect(report.resumed)
        #expect(report.resealed + report.alreadyEnrolled == 7)
        let done = try await fresh.status()
        #expect(done.recoveryFingerprint == Hex.encode(pair.publicKey.fingerprint) && done.pendingRecoveryFingerprint == nil)
        #expect(done.versionsWithoutRecovery == 0)
        let reader = try RecoveryBlobReader(blobs: blobs, privateKey: pair.privateKey)
        for share in 0..<6 { #expect(text(try await reader.open(try id("s\(share)"), version: 1)) == "secret \(share)") }
    }

    /// Replacing the enrolled key is the same pass; the old key no longer opens anything. A dry run
    /// changes nothing; concurrency above 1 gives the same result.
    @Test func replacingTheKeyDryRunAndConcurrency() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let first = try RecoveryPair()
        let second = try RecoveryPair()
        _ = try await store.enrolRecoveryKey(first.publicKey)
        for share in 0..<10 { _ = try await store.store(try id("s\(share)"), try secret("secret \(share)")) }
        let blobs = try await fixture.blobStore()
        let before = try await blobs.read(ShareStore.blobKey(try id("s3"), 1))!
        let dry = try await store.enrolRecoveryKey(second.publicKey, dryRun: true)
        #expect(dry.dryRun && dry.resealed == 10)
        #expect(try await blobs.read(ShareStore.blobKey(try id("s3"), 1))!.bytes == before.bytes)
        #expect(try await store.status().pendingRecoveryFingerprint == nil)
        let report = try await store.enrolRecoveryKey(second.publicKey, concurrency: 4)
        #expect(report.resealed == 10 && report.replacedFingerprint == Hex.encode(first.publicKey.fingerprint))
        let oldReader = try RecoveryBlobReader(blobs: blobs, privateKey: first.privateKey)
        await #expect(throws: StrongroomError.self) { _ = try await oldReader.open(try id("s3"), version: 1) }
        let newReader = try RecoveryBlobReader(blobs: blobs, privateKey: second.privateKey)
        #expect(text(try await newReader.open(try id("s3"), version: 1)) == "secret 3")
    }
}
