// Known-answer vectors transcribed from their public sources (named per vector set below).
//
// All byte strings are lowercase hex with no separators; an empty string means an empty
// (zero-length) value. Every value was cross-checked against an independent implementation
// (Python `cryptography`: HKDF/HMAC-SHA256, AES key wrap with and without padding, AES-GCM).

struct HKDFVector: Sendable, CustomStringConvertible {
    let name: String; let ikm: String; let salt: String; let info: String; let length: Int; let prk: String; let okm: String
    var description: String { name }
}

struct KeyWrapVector: Sendable, CustomStringConvertible {
    let name: String; let kek: String; let keyData: String; let wrapped: String
    var description: String { name }
}

struct GCMVector: Sendable, CustomStringConvertible {
    let name: String; let key: String; let iv: String; let plaintext: String; let aad: String; let ciphertext: String; let tag: String
    var description: String { name }
}

// Source: RFC 5869, "HMAC-based Extract-and-Expand Key Derivation Function (HKDF)"
// (H. Krawczyk, P. Eronen, May 2010), Appendix A "Test Vectors":
// A.1 Test Case 1 (basic test case with SHA-256),
// A.2 Test Case 2 (test with SHA-256 and longer inputs/outputs),
// A.3 Test Case 3 (test with SHA-256 and zero-length salt/info).
// Test cases 4-7 (A.4-A.7) use SHA-1 and are intentionally omitted.
// For A.3 the salt is empty; per RFC 5869 section 2.2 it is treated as HashLen (32) zero octets.
enum RFC5869Vectors {
    static let sha256: [HKDFVector] = [
        HKDFVector(
            name: "RFC 5869 A.1",
            ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            salt: "000102030405060708090a0b0c",
            info: "f0f1f2f3f4f5f6f7f8f9",
            length: 42,
            prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        ),
        HKDFVector(
            name: "RFC 5869 A.2",
            ikm: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
            salt: "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
            info: "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
            length: 82,
            prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
            okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"
        ),
        HKDFVector(
            name: "RFC 5869 A.3",
            ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            salt: "",
            info: "",
            length: 42,
            prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        ),
    ]
}

// Source: RFC 3394, "Advanced Encryption Standard (AES) Key Wrap Algorithm"
// (J. Schaad, R. Housley, September 2002), section 4 "Test Vectors":
// 4.1 Wrap 128 bits of Key Data with a 128-bit KEK,
// 4.2 Wrap 128 bits of Key Data with a 192-bit KEK,
// 4.3 Wrap 128 bits of Key Data with a 256-bit KEK,
// 4.4 Wrap 192 bits of Key Data with a 192-bit KEK,
// 4.5 Wrap 192 bits of Key Data with a 256-bit KEK,
// 4.6 Wrap 256 bits of Key Data with a 256-bit KEK.
// `wrapped` is the final "Output ciphertext" of each example (default IV A6A6A6A6A6A6A6A6).
enum RFC3394Vectors {
    static let all: [KeyWrapVector] = [
        KeyWrapVector(
            name: "RFC 3394 4.1",
            kek: "000102030405060708090a0b0c0d0e0f",
            keyData: "00112233445566778899aabbccddeeff",
            wrapped: "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"
        ),
        KeyWrapVector(
            name: "RFC 3394 4.2",
            kek: "000102030405060708090a0b0c0d0e0f1011121314151617",
            keyData: "00112233445566778899aabbccddeeff",
            wrapped: "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d"
        ),
        KeyWrapVector(
            name: "RFC 3394 4.3",
            kek: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            keyData: "00112233445566778899aabbccddeeff",
            wrapped: "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"
        ),
        KeyWrapVector(
            name: "RFC 3394 4.4",
            kek: "000102030405060708090a0b0c0d0e0f1011121314151617",
            keyData: "00112233445566778899aabbccddeeff0001020304050607",
            wrapped: "031d33264e15d33268f24ec260743edce1c6c7ddee725a936ba814915c6762d2"
        ),
        KeyWrapVector(
            name: "RFC 3394 4.5",
            kek: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            keyData: "00112233445566778899aabbccddeeff0001020304050607",
            wrapped: "a8f9bc1612c68b3ff6e6f4fbe30e71e4769c8b80a32cb8958cd5d17d6b254da1"
        ),
        KeyWrapVector(
            name: "RFC 3394 4.6",
            kek: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            keyData: "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
            wrapped: "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"
        ),
    ]
}

// Source: RFC 5649, "Advanced Encryption Standard (AES) Key Wrap with Padding Algorithm"
// (R. Housley, M. Dworkin, August 2009), section 6 "Padded Key Wrap Examples":
// both examples use the same 192-bit KEK; the first wraps 20 octets of key data
// (two 64-bit blocks after padding, wrapped with the RFC 3394 process), the second
// wraps 7 octets (one 64-bit block, encrypted with a single AES-ECB operation).
enum RFC5649Vectors {
    static let all: [KeyWrapVector] = [
        KeyWrapVector(
            name: "RFC 5649 6 (20 octets)",
            kek: "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
            keyData: "c37b7e6492584340bed12207808941155068f738",
            wrapped: "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"
        ),
        KeyWrapVector(
            name: "RFC 5649 6 (7 octets)",
            kek: "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
            keyData: "466f7250617369",
            wrapped: "afbeb0f07dfbf5419200f2ccb50bb24f"
        ),
    ]
}

// Sources (AES-256, 96-bit IV, 128-bit tag):
// (1) D. A. McGrew and J. Viega, "The Galois/Counter Mode of Operation (GCM)", revised
//     submission to NIST (May 2005), Appendix B "AES Test Vectors", Test Cases 13, 14, 15
//     and 16 (the 256-bit-key cases with 96-bit IVs). This is the document NIST publishes
//     alongside SP 800-38D (csrc.nist.gov .../proposedmodes/gcm/gcm-spec.pdf).
//     Test Case 15 has a 64-octet plaintext and no AAD; Test Case 16 has a 60-octet
//     plaintext and a 20-octet AAD.
// (2) NIST CAVP "GCM Test Vectors" (gcmtestvectors.zip, SP 800-38D), response file
//     gcmEncryptExtIV256.rsp, sections [Keylen = 256] [IVlen = 96] [Taglen = 128] with the
//     [PTlen = ...] [AADlen = ...] given in each vector name; Count = 0 of each section.
enum NISTGCMVectors {
    static let aes256: [GCMVector] = [
        GCMVector(
            name: "GCM spec test case 13",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            plaintext: "",
            aad: "",
            ciphertext: "",
            tag: "530f8afbc74536b9a963b4f1c4cb738b"
        ),
        GCMVector(
            name: "GCM spec test case 14",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            plaintext: "00000000000000000000000000000000",
            aad: "",
            ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
            tag: "d0d1c8a799996bf0265b98b5d48ab919"
        ),
        GCMVector(
            name: "GCM spec test case 15",
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            iv: "cafebabefacedbaddecaf888",
            plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
            aad: "",
            ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
            tag: "b094dac5d93471bdec1a502270e3cc6c"
        ),
        GCMVector(
            name: "GCM spec test case 16",
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            iv: "cafebabefacedbaddecaf888",
            plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            tag: "76fc6ece0f4e1768cddf8853bb2d551b"
        ),
        GCMVector(
            name: "CAVP gcmEncryptExtIV256 PTlen=128 AADlen=128 Count=0",
            key: "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
            iv: "ac93a1a6145299bde902f21a",
            plaintext: "2d71bcfa914e4ac045b2aa60955fad24",
            aad: "1e0889016f67601c8ebea4943bc23ad6",
            ciphertext: "8995ae2e6df3dbf96fac7b7137bae67f",
            tag: "eca5aa77d51d4a0a14d9c51e1da474ab"
        ),
        GCMVector(
            name: "CAVP gcmEncryptExtIV256 PTlen=128 AADlen=160 Count=0",
            key: "83688deb4af8007f9b713b47cfa6c73e35ea7a3aa4ecdb414dded03bf7a0fd3a",
            iv: "0b459724904e010a46901cf3",
            plaintext: "33d893a2114ce06fc15d55e454cf90c3",
            aad: "794a14ccd178c8ebfd1379dc704c5e208f9d8424",
            ciphertext: "cc66bee423e3fcd4c0865715e9586696",
            tag: "0fb291bd3dba94a1dfd8b286cfb97ac5"
        ),
        GCMVector(
            name: "CAVP gcmEncryptExtIV256 PTlen=408 AADlen=128 Count=0",
            key: "5fe01c4baf01cbe07796d5aaef6ec1f45193a98a223594ae4f0ef4952e82e330",
            iv: "bd587321566c7f1a5dd8652d",
            plaintext: "881dc6c7a5d4509f3c4bd2daab08f165ddc204489aa8134562a4eac3d0bcad7965847b102733bb63d1e5c598ece0c3e5dadddd",
            aad: "9013617817dda947e135ee6dd3653382",
            ciphertext: "16e375b4973b339d3f746c1c5a568bc7526e909ddff1e19c95c94a6ccff210c9a4a40679de5760c396ac0e2ceb1234f9f5fe26",
            tag: "abd3d26d65a6275f7a4f56b422acab49"
        ),
        GCMVector(
            name: "CAVP gcmEncryptExtIV256 PTlen=408 AADlen=160 Count=0",
            key: "24501ad384e473963d476edcfe08205237acfd49b5b8f33857f8114e863fec7f",
            iv: "9ff18563b978ec281b3f2794",
            plaintext: "27f348f9cdc0c5bd5e66b1ccb63ad920ff2219d14e8d631b3872265cf117ee86757accb158bd9abb3868fdc0d0b074b5f01b2c",
            aad: "adb5ec720ccf9898500028bf34afccbcaca126ef",
            ciphertext: "eb7cb754c824e8d96f7c6d9b76c7d26fb874ffbf1d65c6f64a698d839b0b06145dae82057ad55994cf59ad7f67c0fa5e85fab8",
            tag: "bc95c532fecc594c36d1550286a7a3f0"
        ),
    ]
}
