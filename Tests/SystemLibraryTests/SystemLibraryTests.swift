import COpenSSL
import CPKCS11
import CSecp256k1
import CSodium
import Testing

/// The four C libraries link and answer; PKCS#11 and libsecp256k1 are used by later tiers.
@Suite struct SystemLibraryTests {
    @Test func libsodiumInitialises() {
        #expect(sodium_init() >= 0)
        #expect(crypto_core_ed25519_SCALARBYTES == 32)
    }

    @Test func libsecp256k1CreatesAContext() {
        let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE))
        #expect(context != nil)
        if let context { secp256k1_context_destroy(context) }
    }

    @Test func pkcs11HeadersDefineTheMechanismsStrongroomUses() {
        #expect(CKM_AES_KEY_WRAP == 0x2109)
        #expect(CKM_AES_GCM == 0x1087)
        #expect(CKR_USER_ALREADY_LOGGED_IN == 0x100)
    }

    @Test func openSSLReportsVersion3() {
        #expect(OpenSSL_version_num() >= 0x3000_0000)
    }
}
