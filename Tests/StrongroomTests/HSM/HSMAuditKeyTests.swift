import Foundation
import PKCS11
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCore
@testable import StrongroomHSM

/// Tier 3's audit MAC key on SoftHSM: a non-extractable CKK_GENERIC_SECRET token object made on
/// first use, CKM_SHA256_HMAC through C_Sign/C_Verify, the same key from a second keyring, one key
/// when two make it at once, removed with the vault's keys.
@Suite(.serialized) struct HSMAuditKeyTests {
    let environment: HSMTestEnvironment
    init() throws { environment = try HSMTestEnvironment.require() }

    func withVault(_ body: (StrongroomConfiguration.HSM, VaultID) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = environment.settings(blobPath: "\(directory.path)/vault")
        let vault = try await HSMVault.initialise(settings, logger: quietLogger)
        do {
            try await body(settings, vault)
        } catch {
            try? await HSMVault.destroyKeys(settings, logger: quietLogger)
            throw error
        }
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
    }

    func keyring(_ settings: StrongroomConfiguration.HSM) async throws -> HSMKeyring {
        try #require(try await HSMVault.open(settings, logger: quietLogger).keyring as? HSMKeyring)
    }

    func auditObjects(_ keyring: HSMKeyring) async throws -> Int {
        let label = keyring.auditKeyLabel
        return try await keyring.connection.withSession { try $0.find([.objectClass(.secretKey), .label(label)]).count }
    }

    @Test func theKeyIsANonExtractableSigningTokenObjectAndMACsVerify() async throws {
        try await withVault { settings, vault in
            let keyring = try await keyring(settings)
            #expect(keyring.auditKeyLabel == "strongroom/\(vault.hex)/audit-mac")
            #expect(try await auditObjects(keyring) == 0, "made on first use, not at init")
            let key = try #require(try await keyring.auditKey())
            #expect(key.description == "PKCS#11 CKK_GENERIC_SECRET 'strongroom/\(vault.hex)/audit-mac' CKM_SHA256_HMAC")
            #expect(key.algorithm == "HMAC-SHA256")
            let label = keyring.auditKeyLabel
            try await keyring.connection.withSession { session in
                let found = try session.find([.objectClass(.secretKey), .label(label)])
                #expect(found.count == 1)
                let handle = try #require(found.first)
                #expect(try session.ulong(.keyType, of: handle) == KeyType.genericSecret.rawValue)
                #expect(try session.ulong(.valueLength, of: handle) == 32)
                #expect(try session.flag(.token, of: handle))
                #expect(try session.flag(.private, of: handle))
                #expect(try session.flag(.sensitive, of: handle))
                #expect(try !session.flag(.extractable, of: handle))
                #expect(try session.flag(.neverExtractable, of: handle))
                #expect(try session.flag(.sign, of: handle))
                #expect(try session.flag(.verify, of: handle))
                #expect(try !session.flag(.encrypt, of: handle))
                #expect(try !session.flag(.decrypt, of: handle))
                #expect(try !session.flag(.wrap, of: handle))
                #expect(try !session.flag(.unwrap, of: handle))
                #expect(throws: PKCS11Error.self) { try session.attribute(.value, of: handle) }
                #expect(try session.attribute(.id, of: handle).prefix(16).elementsEqual(vault.bytes))
            }

            let message = Array(#"{"v":1,"seq":1,"prev":"00","op":"audit.checkpoint","alg":"HMAC-SHA256""#.utf8)
            let mac = try await key.mac(message)
            #expect(mac.count == 32)
            #expect(try await key.mac(message) == mac, "HMAC is deterministic")
            #expect(try await key.verify(message, mac: mac))
            var changed = message
            changed[12] ^= 1
            #expect(try await key.verify(changed, mac: mac) == false, "a changed message")
            var forged = mac
            forged[31] ^= 1
            #expect(try await key.verify(message, mac: forged) == false, "a changed MAC")
            #expect(try await key.verify(message, mac: Array(mac.prefix(20))) == false, "a cut MAC")

            // A second keyring (a newly opened vault) finds the same key and checks the first one's MAC.
            let other = try #require(try await self.keyring(settings).auditKey())
            #expect(other.description == key.description)
            #expect(try await other.verify(message, mac: mac))
            #expect(try await auditObjects(keyring) == 1)
        }
    }

    @Test func keyringsMakingTheKeyAtOnceLeaveOneKey() async throws {
        try await withVault { settings, _ in
            let keyrings = [try await keyring(settings), try await keyring(settings), try await keyring(settings)]
            let keys = try await withThrowingTaskGroup(of: (any AuditMACKey)?.self) { group in
                for keyring in keyrings { group.addTask { try await keyring.auditKey() } }
                return try await group.reduce(into: [(any AuditMACKey)?]()) { $0.append($1) }
            }.compactMap { $0 }
            #expect(keys.count == 3)
            #expect(try await auditObjects(keyrings[0]) == 1)
            let message = Array("checkpoint".utf8)
            let mac = try await keys[0].mac(message)
            for key in keys { #expect(try await key.verify(message, mac: mac)) }
        }
    }

    @Test func destroyKeysRemovesTheAuditKey() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = environment.settings(blobPath: "\(directory.path)/vault")
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        let keyring = try await keyring(settings)
        _ = try await keyring.auditKey()
        #expect(try await auditObjects(keyring) == 1)
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
        #expect(try await auditObjects(keyring) == 0)
        let gone = await #expect(throws: StrongroomError.self) {
            try await HSMAuditKey(keyring: keyring, label: keyring.auditKeyLabel).mac([1])
        }
        #expect(gone?.code == .keyUnavailable)
    }
}
