import Foundation
import SecureCrypto
import Testing

@Suite struct Argon2idTests {
    /// Argon2id v1.3 with p = 1, no secret, no associated data, 32-byte output (the shape of libsodium's
    /// crypto_pwhash; RFC 9106's own vector uses p = 4 with a secret and associated data, which
    /// crypto_pwhash cannot take). Source: the Argon2 reference implementation (phc-winner-argon2, as
    /// bundled by argon2-cffi-bindings 26.2.0 under argon2-cffi 25.1.0), run as
    /// `argon2.low_level.hash_secret_raw(password, salt, time_cost=t, memory_cost=m_KiB, parallelism=1,
    /// hash_len=32, type=Type.ID, version=19)`.
    static let vectors: [(password: String, salt: String, opslimit: UInt64, memoryKiB: UInt64, key: String)] = [
        (
            "636f727265637420686f727365206261747465727920737461706c65", "000102030405060708090a0b0c0d0e0f", 1, 8,
            "d17ea6341ca93da6079ea2f64dc4aa31dd1aaf9caa67fb42ac4afd0714706f26"
        ),
        (
            "70617373776f7264", "736f6d6573616c74736f6d6573616c74", 2, 1024,
            "08a19ee7f6d7f589c2ab6af18d6e724172b19f7d6fd462b38430ab31ceabeaf0"
        ),
        // The custodian part defaults: 3 passes over 64 MiB; a UTF-8 passphrase with an emoji.
        (
            "50c3a4737377c3b6727420f09f949120637573746f6469616e", "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5", 3, 65536,
            "19542499b724088d101400125373a2afcb9cccca99746a27403dc08be1a42e9e"
        ),
    ]

    @Test(arguments: 0..<3)
    func matchesTheReferenceImplementation(vector index: Int) throws {
        let vector = Argon2idTests.vectors[index]
        let key = try Argon2id.deriveKey(
            passphrase: try secret(vector.password), salt: bytes(vector.salt),
            limits: Argon2id.Limits(opslimit: vector.opslimit, memlimit: vector.memoryKiB * 1024))
        #expect(hex(key) == vector.key)
    }

    /// A fresh random passphrase and salt: the key equals what argon2-cffi (the reference C code, run
    /// now through Python) derives.
    @Test func matchesArgon2CffiOnRandomInput() throws {
        let passphrase = try SecureRandom.secretBytes(count: 40)
        let salt = try SecureRandom.bytes(count: 16)
        let key = try Argon2id.deriveKey(
            passphrase: passphrase, salt: salt, limits: Argon2id.Limits(opslimit: 2, memlimit: 256 * 1024))
        let script = """
            import sys
            from argon2.low_level import Type, hash_secret_raw
            print(hash_secret_raw(bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), time_cost=2,
                  memory_cost=256, parallelism=1, hash_len=32, type=Type.ID, version=19).hex())
            """
        let output = try runPythonProcess(["-c", script, hex(passphrase), hex(salt)], input: "")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == hex(key))
    }

    @Test func lengthsAndSaltChangeTheKey() throws {
        let passphrase = try secret(bytes: Array("a custodian passphrase".utf8))
        let limits = Argon2id.Limits(opslimit: 1, memlimit: 8192)
        let salt = [UInt8](repeating: 1, count: 16)
        let a = try Argon2id.deriveKey(passphrase: passphrase, salt: salt, limits: limits)
        var otherSalt = salt
        otherSalt[15] ^= 1
        #expect(try Argon2id.deriveKey(passphrase: passphrase, salt: otherSalt, limits: limits) != a)
        #expect(try Argon2id.deriveKey(passphrase: passphrase, salt: salt, limits: limits, length: 64).count == 64)
    }

    @Test func refusesBadInput() throws {
        let passphrase = try secret(bytes: Array("a custodian passphrase".utf8))
        let good = Argon2id.Limits(opslimit: 1, memlimit: 8192)
        let salt = [UInt8](repeating: 0, count: 16)
        for (badSalt, limits, length) in [
            ([UInt8](repeating: 0, count: 15), good, 32),
            (salt, Argon2id.Limits(opslimit: 0, memlimit: 8192), 32),
            (salt, Argon2id.Limits(opslimit: 1, memlimit: 4096), 32),
            (salt, Argon2id.Limits(opslimit: 1, memlimit: 8193), 32),
            (salt, good, 8),
        ] {
            #expect(throws: CryptoError.self, "\(limits) salt \(badSalt.count) length \(length)") {
                try Argon2id.deriveKey(passphrase: passphrase, salt: badSalt, limits: limits, length: length)
            }
        }
        #expect("\(Argon2id.Limits(opslimit: 3, memlimit: 64 << 20))" == "opslimit 3, memlimit 64 MiB")
    }
}
