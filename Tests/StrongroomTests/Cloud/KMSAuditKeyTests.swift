import AWSClient
import Foundation
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore

/// Tier 2's audit MAC key against moto: a KMS HMAC_256 key made on first use and recorded in
/// `kms-keys.json`, GenerateMac/VerifyMac, the same key from another keyring instance, one winner
/// when two make it at once.
@Suite(.serialized) struct KMSAuditKeyTests {
    let environment: CloudTestEnvironment
    init() throws { environment = try CloudTestEnvironment.require() }

    func withVault(_ body: (StrongroomConfiguration.Cloud, String) async throws -> Void) async throws {
        let prefix = try CloudTestEnvironment.freshPrefix("audit-kms")
        let settings = try environment.settings(prefix: prefix)
        _ = try await CloudVault.initialise(settings, logger: quietLogger)
        do {
            try await body(settings, prefix)
        } catch {
            await environment.removeEverything(under: prefix)
            throw error
        }
        await environment.removeEverything(under: prefix)
    }

    func keyring(_ settings: StrongroomConfiguration.Cloud) async throws -> KMSKeyring {
        try #require(try await CloudVault.open(settings, logger: quietLogger).keyring as? KMSKeyring)
    }

    func mapFile(_ prefix: String) async throws -> KMSKeyMap.File {
        let map = try #require(try await environment.s3Client().getObject(prefix + KMSKeyMap.key))
        return try JSONDecoder().decode(KMSKeyMap.File.self, from: Data(map.bytes))
    }

    @Test func anHMACKeyIsMadeOnFirstUseRecordedAndMACsVerify() async throws {
        try await withVault { settings, prefix in
            #expect(try await mapFile(prefix).audit == nil, "no audit key before the first use")
            let key = try #require(try await keyring(settings).auditKey() as? KMSAuditKey)
            let recorded = try #require(try await mapFile(prefix).audit)
            #expect(recorded.keyID == key.keyID && recorded.createdByStrongroom)
            #expect(key.description == "KMS HMAC_256 key \(recorded.keyID)")
            #expect(key.algorithm == "HMAC-SHA256")
            let meta = try await environment.kmsClient().describeKey(key.keyID)
            #expect(meta.keySpec == "HMAC_256")
            #expect(meta.keyUsage == "GENERATE_VERIFY_MAC")
            #expect(meta.keyState == "Enabled")

            let message = Array(#"{"v":1,"seq":1,"prev":"00","op":"audit.checkpoint","alg":"HMAC-SHA256""#.utf8)
            let mac = try await key.mac(message)
            #expect(mac.count == 32)
            #expect(try await key.verify(message, mac: mac))
            var changed = message
            changed[10] ^= 1
            #expect(try await key.verify(changed, mac: mac) == false, "a changed message")
            var forged = mac
            forged[0] ^= 0x80
            #expect(try await key.verify(message, mac: forged) == false, "a changed MAC")
            #expect(try await key.verify(message, mac: Array(mac.prefix(16))) == false, "a cut MAC")

            // Another keyring instance (another process's view) finds the same key and checks the MAC.
            let other = try #require(try await keyring(settings).auditKey())
            #expect(other.description == key.description)
            #expect(try await other.verify(message, mac: mac))
            #expect(try await mapFile(prefix).audit == recorded)
        }
    }

    @Test func aMessageLongerThanKMSTakesIsMACedThroughItsSHA256() async throws {
        try await withVault { settings, _ in
            let key = try #require(try await keyring(settings).auditKey() as? KMSAuditKey)
            let long = [UInt8](repeating: 0x61, count: 5000)
            #expect(KMSAuditKey.macInput(long) == SHA256.hash(long))
            #expect(KMSAuditKey.macInput(Array(long.prefix(4096))) == Array(long.prefix(4096)))
            let mac = try await key.mac(long)
            #expect(try await key.verify(long, mac: mac))
            #expect(try await environment.kmsClient().verifyMac(keyID: key.keyID, message: SHA256.hash(long), mac: mac))
            var other = long
            other[4999] = 0x62
            #expect(try await key.verify(other, mac: mac) == false)
        }
    }

    @Test func twoKeyringsMakingTheKeyAtOnceAgreeOnOne() async throws {
        try await withVault { settings, prefix in
            let first = try await keyring(settings)
            let second = try await keyring(settings)
            async let a = first.auditKey()
            async let b = second.auditKey()
            let keys = try await [a, b].compactMap { $0 as? KMSAuditKey }
            #expect(keys.count == 2)
            let recorded = try #require(try await mapFile(prefix).audit)
            #expect(keys.allSatisfy { $0.keyID == recorded.keyID }, "\(keys.map(\.keyID)) vs \(recorded.keyID)")
            let message = Array("checkpoint".utf8)
            #expect(try await keys[1].verify(message, mac: try await keys[0].mac(message)))
        }
    }

    @Test func verifyMacAnswersFalseForAWrongMACAndThrowsForAnUnusableKey() async throws {
        let kms = try environment.kmsClient()
        let key = try await kms.createHMACKey(description: "strongroom test HMAC key", tags: ["strongroom:test": "audit"])
        defer { Task { try? await kms.scheduleKeyDeletion(key.keyID, pendingWindowDays: 7) } }
        #expect(key.keySpec == "HMAC_256" || key.keySpec.isEmpty)
        let mac = try await kms.generateMac(keyID: key.keyID, message: [1, 2, 3])
        #expect(try await kms.verifyMac(keyID: key.keyID, message: [1, 2, 3], mac: mac))
        #expect(try await kms.verifyMac(keyID: key.keyID, message: [1, 2, 4], mac: mac) == false)
        // A symmetric encryption key cannot make MACs: an error, not "false".
        await #expect(throws: AWSError.self) {
            try await kms.verifyMac(keyID: environment.kmsKey, message: [1, 2, 3], mac: mac)
        }
        let tooLong = await #expect(throws: AWSError.self) {
            try await kms.generateMac(keyID: key.keyID, message: [UInt8](repeating: 0, count: 4097))
        }
        #expect(tooLong?.kind == .configuration)
    }
}
