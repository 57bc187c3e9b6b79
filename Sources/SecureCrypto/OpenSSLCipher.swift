internal import COpenSSL

/// An OpenSSL cipher implementation fetched once from the default provider.
///
/// @unchecked Sendable: an `EVP_CIPHER` returned by `EVP_CIPHER_fetch` is immutable and documented
/// by OpenSSL as safe to share between threads; it is freed only when the process exits.
final class OpenSSLCipher: @unchecked Sendable {
    private let fetched: OpaquePointer?
    let name: String

    private init(name: String) {
        self.fetched = EVP_CIPHER_fetch(nil, name, nil)
        if fetched == nil { _ = drainOpenSSLErrors() }
        self.name = name
    }

    /// The cipher, or an error when the loaded OpenSSL providers do not offer it (for example a
    /// restricted provider configuration in `OPENSSL_CONF`).
    func handle() throws(CryptoError) -> OpaquePointer {
        guard let fetched else {
            throw CryptoError(
                .libraryFailure, "OpenSSL offers no \(name) cipher; check the provider configuration (OPENSSL_CONF)")
        }
        return fetched
    }

    static let aes256GCM = OpenSSLCipher(name: "AES-256-GCM")
    static let aes128GCM = OpenSSLCipher(name: "AES-128-GCM")
    static let aesWrap = [16: OpenSSLCipher(name: "AES-128-WRAP"), 24: OpenSSLCipher(name: "AES-192-WRAP"),
                          32: OpenSSLCipher(name: "AES-256-WRAP")]
    static let aesWrapPad = [16: OpenSSLCipher(name: "AES-128-WRAP-PAD"), 24: OpenSSLCipher(name: "AES-192-WRAP-PAD"),
                             32: OpenSSLCipher(name: "AES-256-WRAP-PAD")]
}

/// An `EVP_CIPHER_CTX` owned for the length of one operation.
final class CipherContext {
    let handle: OpaquePointer

    init() throws(CryptoError) {
        guard let handle = EVP_CIPHER_CTX_new() else {
            throw CryptoError.openSSL(.libraryFailure, "EVP_CIPHER_CTX_new failed")
        }
        self.handle = handle
    }

    deinit { EVP_CIPHER_CTX_free(handle) }
}
