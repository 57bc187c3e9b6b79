import SecureCrypto
import Testing

/// CryptoError has the common error shape (CodedError): equal by code, with a reason and a cause.
@Suite struct CryptoErrorShapeTests {
    @Test func errorsAreEqualByCodeOnlyAndKeepTheirReasonAndCause() {
        struct Cause: Error {}
        let first = CryptoError(.authenticationFailed, "tag mismatch", underlying: Cause())
        let second = CryptoError(.authenticationFailed, "another wording", libraryErrors: ["e"])
        #expect(first == second)
        #expect(first != CryptoError(.invalidInput, "tag mismatch"))
        #expect(Set([first, second]).count == 1)
        #expect(first.reason == "tag mismatch")
        #expect(first.underlying is Cause)
        #expect("\(second)" == "authentication failed: another wording [openssl: e]")
    }

    /// The typed-throws paths still report the failure they had before the relays were removed.
    @Test func typedThrowsKeepTheCode() throws {
        let key = try SecureRandom.secretBytes(count: 32)
        let iv = try SecureRandom.bytes(count: 12)
        var sealed = try AESGCM.seal(try SecretBytes(copying: UnsafeRawBufferPointer(start: nil, count: 0)), key: key, iv: iv, aad: [1])
        sealed.tag[0] ^= 1
        let error = #expect(throws: CryptoError.self) { try AESGCM.open(sealed, key: key, iv: iv, aad: [1]) }
        #expect(error?.code == .authenticationFailed)
    }
}
