internal import COpenSSL

/// The CSPRNG: OpenSSL's DRBG, seeded from the operating system.
public enum SecureRandom {
    /// Random secret bytes (a data key, a root seed), drawn from OpenSSL's private DRBG.
    public static func secretBytes(count: Int) throws(CryptoError) -> SecretBytes {
        return try SecretBytes(count: count, filling: { (buffer) throws(CryptoError) in
            guard count == 0 || sr_rand_priv_bytes(buffer.baseAddress, Int32(count)) == 1 else {
                throw CryptoError.openSSL(.randomFailure, "RAND_priv_bytes failed")
            }
        })
    }

    /// Random public bytes (IVs, identifiers), drawn from OpenSSL's public DRBG.
    public static func bytes(count: Int) throws(CryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        guard count == 0 || sr_rand_bytes(&output, Int32(count)) == 1 else {
            throw CryptoError.openSSL(.randomFailure, "RAND_bytes failed")
        }
        return output
    }
}
