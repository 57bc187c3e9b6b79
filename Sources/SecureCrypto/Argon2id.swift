internal import CSodium

/// Argon2id version 1.3 (RFC 9106), from libsodium's `crypto_pwhash` with `crypto_pwhash_ALG_ARGON2ID13`:
/// derives a key from a passphrase and a salt. libsodium fixes the parallelism at 1 and uses no secret
/// value and no associated data; `opslimit` is Argon2's number of passes (t) and `memlimit` its memory in
/// bytes (m = memlimit / 1024 KiB). Any Argon2id v1.3 implementation given t = opslimit,
/// m = memlimit / 1024, p = 1 and the same output length gives the same key.
public enum Argon2id {
    /// The salt length this module takes (libsodium's `crypto_pwhash_SALTBYTES`).
    public static let saltSize = 16

    /// The work factors: passes over memory and memory size. Not secret; stored beside what they protect.
    public struct Limits: Sendable, Hashable, CustomStringConvertible {
        /// Passes over the memory (Argon2's t; libsodium's opslimit). At least 1.
        public var opslimit: UInt64
        /// Memory in bytes (a multiple of 1024; libsodium's memlimit). At least 8 KiB.
        public var memlimit: UInt64

        /// Work factors of `opslimit` passes over `memlimit` bytes.
        public init(opslimit: UInt64, memlimit: UInt64) {
            self.opslimit = opslimit
            self.memlimit = memlimit
        }

        /// "opslimit N, memlimit M MiB".
        public var description: String {
            memlimit % (1 << 20) == 0
                ? "opslimit \(opslimit), memlimit \(memlimit >> 20) MiB"
                : "opslimit \(opslimit), memlimit \(memlimit) bytes"
        }
    }

    /// Derives `length` key bytes (16 to 64) from `passphrase` and a 16-byte `salt`. The passphrase and
    /// the key stay in locked memory; libsodium's working memory (`memlimit` bytes) is its own, wiped
    /// by it after use. Throws ``CryptoError/Code/invalidInput`` for a bad salt, length or limits and
    /// ``CryptoError/Code/libraryFailure`` when libsodium cannot allocate the memory.
    public static func deriveKey(
        passphrase: SecretBytes, salt: [UInt8], limits: Limits, length: Int = 32
    ) throws(CryptoError) -> SecretBytes {
        guard salt.count == saltSize else {
            throw CryptoError(.invalidInput, "an Argon2id salt is \(saltSize) bytes, got \(salt.count)")
        }
        guard (16...64).contains(length) else {
            throw CryptoError(.invalidInput, "an Argon2id key is 16 to 64 bytes here, asked for \(length)")
        }
        guard limits.opslimit >= 1, limits.opslimit <= UInt64(UInt32.max) else {
            throw CryptoError(.invalidInput, "Argon2id opslimit \(limits.opslimit) is out of range (1 to 2^32-1)")
        }
        guard limits.memlimit >= 8192, limits.memlimit % 1024 == 0, limits.memlimit <= UInt64(Int.max) else {
            throw CryptoError(
                .invalidInput, "Argon2id memlimit \(limits.memlimit) must be a multiple of 1024 bytes, at least 8192")
        }
        try SodiumRuntime.ensureInitialised()
        return try SecretBytes(count: length, filling: { (out) throws(CryptoError) in
            let rc = passphrase.withUnsafeBytes { pass in
                salt.withUnsafeBytes { saltBytes in
                    strongroom_pwhash_argon2id(
                        out.baseAddress, UInt64(length), pass.baseAddress, UInt64(pass.count), saltBytes.baseAddress,
                        limits.opslimit, Int(limits.memlimit))
                }
            }
            guard rc == 0 else {
                throw CryptoError(
                    .libraryFailure,
                    "Argon2id (crypto_pwhash) failed with \(limits): not enough memory, or limits libsodium refuses")
            }
        })
    }
}
