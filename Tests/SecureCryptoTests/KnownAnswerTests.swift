import SecureCrypto
import Testing

@Suite struct KnownAnswerTests {
    @Test(arguments: RFC5869Vectors.sha256)
    func hkdfMatchesRFC5869(_ vector: HKDFVector) throws {
        let ikm = try secret(vector.ikm)
        let prk = try HKDF.extract(ikm: ikm, salt: bytes(vector.salt))
        #expect(hex(prk) == vector.prk)
        let okm = try HKDF.deriveKey(ikm: ikm, salt: bytes(vector.salt), info: bytes(vector.info), length: vector.length)
        #expect(hex(okm) == vector.okm)
        let expanded = try HKDF.expand(prk: prk, info: bytes(vector.info), length: vector.length)
        #expect(hex(expanded) == vector.okm)
    }

    @Test(arguments: RFC3394Vectors.all)
    func keyWrapMatchesRFC3394(_ vector: KeyWrapVector) throws {
        let kek = try secret(vector.kek)
        let wrapped = try AESKeyWrap.wrap(try secret(vector.keyData), kek: kek)
        #expect(hex(wrapped) == vector.wrapped)
        let unwrapped = try AESKeyWrap.unwrap(bytes(vector.wrapped), kek: kek)
        #expect(hex(unwrapped) == vector.keyData)
    }

    @Test(arguments: RFC5649Vectors.all)
    func paddedKeyWrapMatchesRFC5649(_ vector: KeyWrapVector) throws {
        let kek = try secret(vector.kek)
        let wrapped = try AESKeyWrap.wrapWithPadding(try secret(vector.keyData), kek: kek)
        #expect(hex(wrapped) == vector.wrapped)
        let unwrapped = try AESKeyWrap.unwrapWithPadding(bytes(vector.wrapped), kek: kek)
        #expect(hex(unwrapped) == vector.keyData)
    }

    @Test(arguments: NISTGCMVectors.aes256)
    func gcmMatchesNISTVectors(_ vector: GCMVector) throws {
        let key = try secret(vector.key)
        let sealed = try AESGCM.seal(try secret(vector.plaintext), key: key, iv: bytes(vector.iv), aad: bytes(vector.aad))
        #expect(hex(sealed.ciphertext) == vector.ciphertext)
        #expect(hex(sealed.tag) == vector.tag)
        let opened = try AESGCM.open(
            AESGCM.Sealed(ciphertext: bytes(vector.ciphertext), tag: bytes(vector.tag)), key: key, iv: bytes(vector.iv),
            aad: bytes(vector.aad))
        #expect(hex(opened) == vector.plaintext)
    }
}

@Suite struct TamperTests {
    // GCM spec test case 16 (see KnownAnswerVectors.swift): plaintext, AAD and tag all non-empty.
    static let vector = NISTGCMVectors.aes256.first { $0.name.contains("16") }!

    @Test func gcmRejectsEveryFlippedBitOfCiphertextTagAADAndIV() throws {
        let v = TamperTests.vector
        let key = try secret(v.key)
        let fields = [bytes(v.ciphertext), bytes(v.tag), bytes(v.aad), bytes(v.iv)]
        for field in 0..<fields.count {
            for bit in 0..<(fields[field].count * 8) {
                var altered = fields
                altered[field][bit / 8] ^= UInt8(1 << (bit % 8))
                let error = #expect(throws: CryptoError.self) {
                    try AESGCM.open(
                        AESGCM.Sealed(ciphertext: altered[0], tag: altered[1]), key: key, iv: altered[3], aad: altered[2])
                }
                #expect(error?.code == .authenticationFailed)
            }
        }
    }

    @Test func gcmRejectsWrongKeyAndTruncatedTag() throws {
        let v = TamperTests.vector
        var wrongKey = bytes(v.key)
        wrongKey[0] ^= 0x80
        let sealed = AESGCM.Sealed(ciphertext: bytes(v.ciphertext), tag: bytes(v.tag))
        #expect(throws: CryptoError.self) {
            try AESGCM.open(sealed, key: try secret(bytes: wrongKey), iv: bytes(v.iv), aad: bytes(v.aad))
        }
        #expect(throws: CryptoError.self) {
            try AESGCM.open(
                AESGCM.Sealed(ciphertext: bytes(v.ciphertext), tag: Array(bytes(v.tag).prefix(12))), key: try secret(v.key),
                iv: bytes(v.iv), aad: bytes(v.aad))
        }
    }

    @Test(arguments: RFC3394Vectors.all)
    func keyUnwrapRejectsEveryFlippedBit(_ vector: KeyWrapVector) throws {
        let kek = try secret(vector.kek)
        let wrapped = bytes(vector.wrapped)
        for bit in 0..<(wrapped.count * 8) {
            var altered = wrapped
            altered[bit / 8] ^= UInt8(1 << (bit % 8))
            let error = #expect(throws: CryptoError.self) { try AESKeyWrap.unwrap(altered, kek: kek) }
            #expect(error?.code == .authenticationFailed)
        }
    }

    @Test(arguments: RFC5649Vectors.all)
    func paddedKeyUnwrapRejectsWrongKEKAndFlips(_ vector: KeyWrapVector) throws {
        var otherKEK = bytes(vector.kek)
        otherKEK[5] ^= 1
        #expect(throws: CryptoError.self) {
            try AESKeyWrap.unwrapWithPadding(bytes(vector.wrapped), kek: try secret(bytes: otherKEK))
        }
        var altered = bytes(vector.wrapped)
        altered[altered.count - 1] ^= 0x01
        #expect(throws: CryptoError.self) { try AESKeyWrap.unwrapWithPadding(altered, kek: try secret(vector.kek)) }
    }

    @Test func keyWrapRefusesBadSizes() throws {
        let kek = try SecureRandom.secretBytes(count: 32)
        #expect(throws: CryptoError.self) { try AESKeyWrap.wrap(try SecureRandom.secretBytes(count: 20), kek: kek) }
        #expect(throws: CryptoError.self) {
            try AESKeyWrap.wrap(try SecureRandom.secretBytes(count: 32), kek: try SecureRandom.secretBytes(count: 20))
        }
        #expect(throws: CryptoError.self) { try AESKeyWrap.unwrap([UInt8](repeating: 0, count: 12), kek: kek) }
    }

    @Test func randomBytesDiffer() throws {
        let a = try SecureRandom.secretBytes(count: 32)
        let b = try SecureRandom.secretBytes(count: 32)
        #expect(a != b)
        #expect(try SecureRandom.bytes(count: 16) != SecureRandom.bytes(count: 16))
    }
}
