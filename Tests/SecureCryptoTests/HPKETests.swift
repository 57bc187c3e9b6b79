@testable import SecureCrypto
import Testing

/// RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, mode_base
/// (transcribed from the appendix text of cfrg/draft-irtf-cfrg-hpke at commit b1f7cb0, the final draft).
/// The RFC has no X25519 + AES-256-GCM vector; that suite shares the KEM, the KDF and the nonce
/// schedule tested here, and is cross-checked against pyhpke in `HPKECrossCheckTests`.
enum RFC9180A11 {
    static let info = "4f6465206f6e2061204772656369616e2055726e"
    static let ikmE = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234"
    static let pkEm = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"
    static let skEm = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736"
    static let ikmR = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037"
    static let pkRm = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d"
    static let skRm = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"
    static let enc = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"
    static let sharedSecret = "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"
    static let keyScheduleContext =
        "00725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07cb6cffde367bb0565ba28bb02c90744a20f5ef37f30523526106f637abb05449"
    static let secret = "12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397"
    static let key = "4531685d41d65f03dc48f6b8302c05b0"
    static let baseNonce = "56d890e5accaaf011cff4b7d"
    static let exporterSecret = "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8"
    static let plaintext = "4265617574792069732074727574682c20747275746820626561757479"
    /// (sequence number, aad, nonce, ciphertext || tag)
    static let encryptions: [(UInt64, String, String, String)] = [
        (0, "436f756e742d30", "56d890e5accaaf011cff4b7d",
         "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"),
        (1, "436f756e742d31", "56d890e5accaaf011cff4b7c",
         "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84"),
        (2, "436f756e742d32", "56d890e5accaaf011cff4b7f",
         "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180"),
        (4, "436f756e742d34", "56d890e5accaaf011cff4b79",
         "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d"),
        (255, "436f756e742d323535", "56d890e5accaaf011cff4b82",
         "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a"),
        (256, "436f756e742d323536", "56d890e5accaaf011cff4a7d",
         "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2"),
    ]
    /// (exporter_context, L = 32, exported_value)
    static let exports: [(String, String)] = [
        ("", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"),
        ("00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"),
        ("54657374436f6e74657874", "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"),
    ]
}

@Suite struct HPKETests {
    typealias V = RFC9180A11

    func secret(_ hex: String) throws -> SecretBytes {
        try Hex.decode(hex)!.withUnsafeBytes { try SecretBytes(copying: $0) }
    }

    func matches(_ secret: SecretBytes, _ hex: String) -> Bool {
        Hex.decode(hex)!.withUnsafeBytes { secret.constantTimeEquals($0) }
    }

    @Test func deriveKeyPairMatchesAppendixA11() throws {
        let (skE, pkE) = try HPKE.deriveKeyPair(ikm: try secret(V.ikmE))
        #expect(matches(skE, V.skEm))
        #expect(Hex.encode(pkE) == V.pkEm)
        let (skR, pkR) = try HPKE.deriveKeyPair(ikm: try secret(V.ikmR))
        #expect(matches(skR, V.skRm))
        #expect(Hex.encode(pkR) == V.pkRm)
    }

    @Test func encapsulationAndKeyScheduleMatchAppendixA11() throws {
        let (shared, enc) = try HPKE.encapsulate(to: Hex.decode(V.pkRm)!, ephemeralKey: try secret(V.skEm))
        #expect(Hex.encode(enc) == V.enc)
        #expect(matches(shared, V.sharedSecret))
        #expect(matches(try HPKE.decapsulate(Hex.decode(V.enc)!, privateKey: try secret(V.skRm)), V.sharedSecret))

        let schedule = try HPKE.keyScheduleWithContext(sharedSecret: shared, info: Hex.decode(V.info)!, aead: .aes128GCM)
        #expect(Hex.encode(schedule.keyScheduleContext) == V.keyScheduleContext)
        #expect(matches(schedule.secret, V.secret))
        #expect(matches(schedule.context.key, V.key))
        #expect(Hex.encode(schedule.context.baseNonce) == V.baseNonce)
        #expect(matches(schedule.context.exporterSecret, V.exporterSecret))
        for (context, value) in V.exports {
            #expect(matches(try schedule.context.export(context: Hex.decode(context)!, length: 32), value))
        }
    }

    @Test func encryptionsMatchAppendixA11() throws {
        let context = try HPKE.keySchedule(sharedSecret: try secret(V.sharedSecret), info: Hex.decode(V.info)!, aead: .aes128GCM)
        for (sequence, aad, nonce, ciphertext) in V.encryptions {
            #expect(Hex.encode(context.nonce(sequence: sequence)) == nonce, "nonce of sequence \(sequence)")
            let sealed = try context.seal(sequence: sequence, aad: Hex.decode(aad)!, plaintext: try secret(V.plaintext))
            #expect(Hex.encode(sealed) == ciphertext, "ciphertext of sequence \(sequence)")
            let opened = try context.open(sequence: sequence, aad: Hex.decode(aad)!, ciphertext: Hex.decode(ciphertext)!)
            #expect(matches(opened, V.plaintext))
        }
        // The one-shot API gives the sequence-0 ciphertext and opens it with the recipient's key.
        let oneShot = try HPKE.seal(
            to: Hex.decode(V.pkRm)!, info: Hex.decode(V.info)!, aad: Hex.decode(V.encryptions[0].1)!,
            plaintext: try secret(V.plaintext), aead: .aes128GCM, ephemeralKey: try secret(V.skEm))
        #expect(Hex.encode(oneShot.enc) == V.enc)
        #expect(Hex.encode(oneShot.ciphertext) == V.encryptions[0].3)
        let opened = try HPKE.open(
            oneShot, privateKey: try secret(V.skRm), info: Hex.decode(V.info)!, aad: Hex.decode(V.encryptions[0].1)!,
            aead: .aes128GCM)
        #expect(matches(opened, V.plaintext))
    }

    @Test func aes256RoundTripAndEveryMismatchFails() throws {
        let recipient = try X25519.generatePrivateKey()
        let publicKey = try X25519.publicKey(of: recipient)
        let dataKey = try SecureRandom.secretBytes(count: 32)
        let info = Array("strongroom/recovery/v2".utf8)
        let aad: [UInt8] = [1, 2, 3]
        let sealed = try HPKE.seal(to: publicKey, info: info, aad: aad, plaintext: dataKey)
        #expect(sealed.enc.count == 32)
        #expect(sealed.ciphertext.count == 48)
        #expect(try HPKE.open(sealed, privateKey: recipient, info: info, aad: aad) == dataKey)
        // Fresh ephemeral keys: sealing twice gives different outputs.
        #expect(try HPKE.seal(to: publicKey, info: info, aad: aad, plaintext: dataKey) != sealed)

        func refused(_ body: () throws -> Void) {
            #expect {
                try body()
            } throws: { error in
                (error as? CryptoError)?.code == .authenticationFailed
            }
        }
        refused { _ = try HPKE.open(sealed, privateKey: try X25519.generatePrivateKey(), info: info, aad: aad) }
        refused { _ = try HPKE.open(sealed, privateKey: recipient, info: info + [0], aad: aad) }
        refused { _ = try HPKE.open(sealed, privateKey: recipient, info: info, aad: aad + [0]) }
        refused { _ = try HPKE.open(sealed, privateKey: recipient, info: info, aad: aad, aead: .aes128GCM) }
        for index in [0, 31] {
            var altered = sealed
            altered.enc[index] ^= 0x01
            refused { _ = try HPKE.open(altered, privateKey: recipient, info: info, aad: aad) }
        }
        for index in [0, 31, 47] {
            var altered = sealed
            altered.ciphertext[index] ^= 0x80
            refused { _ = try HPKE.open(altered, privateKey: recipient, info: info, aad: aad) }
        }
        var short = sealed
        short.ciphertext = Array(short.ciphertext.prefix(10))
        refused { _ = try HPKE.open(short, privateKey: recipient, info: info, aad: aad) }
        var badEnc = sealed
        badEnc.enc = [UInt8](repeating: 0, count: 32)  // a small-order point
        refused { _ = try HPKE.open(badEnc, privateKey: recipient, info: info, aad: aad) }
    }
}
