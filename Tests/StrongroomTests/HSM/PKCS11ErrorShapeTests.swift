import PKCS11
import SecureCrypto
import Testing

/// PKCS11Error has the common error shape (CodedError): its code is the CK_RV, named by its CKR_
/// constant; errors are equal when they carry the same return value, whichever function returned it.
@Suite struct PKCS11ErrorShapeTests {
    @Test func theCodeIsTheReturnValue() {
        let refused = PKCS11Error("C_Login", 0xA0)
        #expect(refused.code == .pinIncorrect)
        #expect(refused.rv == 0xA0)
        #expect(refused.name == "CKR_PIN_INCORRECT")
        #expect("\(refused.code)" == "CKR_PIN_INCORRECT")
        #expect(refused.meansLoginRefused)
        #expect(refused.reason == "C_Login returned CKR_PIN_INCORRECT (0xa0)")
        #expect(refused.underlying == nil)
        #expect(PKCS11Error("C_Decrypt", 0x5).code == .generalError)
        #expect(PKCS11Error("C_Decrypt", 0x5).meansIntegrityFailure)
        #expect("\(PKCS11Error.Code(rv: 0x8000_0001))" == "CKR_VENDOR_DEFINED+0x1")
    }

    @Test func errorsAreEqualByReturnValueOnly() {
        #expect(PKCS11Error("C_UnwrapKey", 0x60) == PKCS11Error("C_EncryptInit", 0x60))
        #expect(PKCS11Error("C_UnwrapKey", 0x60) != PKCS11Error("C_UnwrapKey", 0x82))
        #expect(Set([PKCS11Error("C_A", 0x60), PKCS11Error("C_B", 0x60), PKCS11Error("C_C", 0xB3)]).count == 2)
    }
}
