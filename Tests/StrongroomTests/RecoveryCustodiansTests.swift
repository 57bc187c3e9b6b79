import Foundation
import SecureCrypto
import StrongroomCore
import Testing

/// The library side of custodian parts: `RecoveryCustodians.create` and `combine` (the CLI tests cover
/// the files `strongroom recovery init` writes and each error on them).
@Suite struct RecoveryCustodiansTests {
    static func phrase(_ i: Int) -> String { "passphrase of custodian number \(i)" }

    static func make(custodians: Int, threshold: Int) async throws -> (RecoveryPublicKey, [(source: String, bytes: [UInt8])]) {
        let (publicKey, parts) = try await RecoveryCustodians.create(custodians: custodians, threshold: threshold) {
            try secret(phrase($0))
        }
        return (publicKey, parts.enumerated().map { ("part-\($0.offset + 1)", $0.element) })
    }

    static func open(_ source: String) throws -> SecretBytes {
        try secret(phrase(Int(source.dropFirst("part-".count))!))
    }

    @Test(arguments: [(2, 2), (2, 3)])
    func anyThresholdOfPartsRebuildTheKey(threshold: Int, custodians: Int) async throws {
        let (publicKey, parts) = try await RecoveryCustodiansTests.make(custodians: custodians, threshold: threshold)
        #expect(parts.count == custodians)
        #expect(parts.allSatisfy { $0.bytes.count == 161 })
        var keys: [SecretBytes] = []
        for subset in [[0, 1], [1, 0], Array(0..<custodians)] {
            let (privateKey, rebuilt) = try await RecoveryCustodians.combine(parts: subset.map { parts[$0] }) {
                try RecoveryCustodiansTests.open($0)
            }
            #expect(rebuilt == publicKey)
            #expect(try RecoveryPublicKey(privateKey: privateKey) == publicKey)
            keys.append(privateKey)
        }
        #expect(keys.allSatisfy { $0 == keys[0] })
    }

    @Test func createRefusesBadCountsShortPassphrasesAndWeakLimits() async throws {
        for (custodians, threshold) in [(3, 1), (2, 3), (256, 2)] {
            await #expect(throws: StrongroomError.self) {
                _ = try await RecoveryCustodians.create(custodians: custodians, threshold: threshold) { _ in
                    try secret("a long enough passphrase")
                }
            }
        }
        do {
            _ = try await RecoveryCustodians.create(custodians: 3, threshold: 2) { i in
                try secret(i == 2 ? "short" : "a long enough passphrase")
            }
            Issue.record("a short passphrase was accepted")
        } catch let error as StrongroomError {
            #expect(error.code == .invalidInput)
            #expect(error.reason.contains("custodian 2") && error.reason.contains("12"), "\(error)")
        }
        await #expect(throws: StrongroomError.self) {
            _ = try await RecoveryCustodians.create(
                custodians: 2, threshold: 2, kdfLimits: Argon2id.Limits(opslimit: 1, memlimit: 64 << 20)
            ) { _ in try secret("a long enough passphrase") }
        }
        let none = try? await RecoveryCustodians.combine(parts: []) { _ in try secret("x") }
        #expect(none == nil)
    }

    /// A custodian who seals a wrong value under their own passphrase (the part opens, its checksum is
    /// right): the rebuilt key does not match the fingerprint the parts name, and nothing is returned.
    /// The part is written here from docs/recovery.md's layout, which also checks the document.
    @Test func partsThatOpenButDoNotRebuildTheKeyAreRefused() async throws {
        let (publicKey, parts) = try await RecoveryCustodiansTests.make(custodians: 3, threshold: 2)
        let info = try RecoveryCustodians.inspect(parts[1].bytes, source: "part-2")
        let salt = try SecureRandom.bytes(count: 16), iv = try SecureRandom.bytes(count: 12)
        var header = Array("SRRP".utf8) + [1] + publicKey.fingerprint + [2, 3, 2, 1]
        header += [0, 0, 0, UInt8(info.kdfLimits.opslimit)]
        header += (0..<8).reversed().map { UInt8(truncatingIfNeeded: info.kdfLimits.memlimit >> (8 * UInt64($0))) }
        header += salt
        #expect(header == Array(parts[1].bytes[0..<53]) + salt)
        let key = try Argon2id.deriveKey(
            passphrase: try secret(RecoveryCustodiansTests.phrase(2)), salt: salt, limits: info.kdfLimits)
        let sealed = try AESGCM.seal(try SecureRandom.secretBytes(count: 32), key: key, iv: iv, aad: header)
        var forged = header + iv + sealed.ciphertext + sealed.tag
        forged += SHA256.hash(forged)
        do {
            _ = try await RecoveryCustodians.combine(parts: [parts[0], ("part-2", forged)]) {
                try RecoveryCustodiansTests.open($0)
            }
            Issue.record("a forged part rebuilt a key")
        } catch let error as StrongroomError {
            #expect(error.code == .recoveryPartRejected)
            #expect(error.reason.contains("do not rebuild recovery key"), "\(error)")
            #expect(error.reason.contains("part-1") && error.reason.contains("part-2"))
        }
    }
}
