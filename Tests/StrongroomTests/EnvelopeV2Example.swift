/// The envelope v2 worked example, made by scripts/format/worked_example_v2.py (an independent
/// implementation written from docs/format.md and RFC 9180): a tier 1 blob with a recovery section.
/// Regenerate with `python3 scripts/format/worked_example_v2.py --swift-fixture`; the Python-side
/// check in EnvelopeV2InteropTests fails when this file and the script disagree.
enum EnvelopeV2Example {
    static let rootSeedHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    static let vaultIDHex = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
    static let shareID = "alice-share"
    static let shareVersion: UInt64 = 1
    static let createdAt: UInt64 = 1_767_225_600
    static let metadata = #"{"party":"1"}"#
    static let kekVersion: UInt32 = 1
    static let dataKeyHex = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    static let ivHex = "c0c1c2c3c4c5c6c7c8c9cacb"
    static let plaintext = "threshold share #1"
    static let recoveryPrivateKeyHex = "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    static let recoveryPublicKeyHex = "675dd574ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea52f"
    static let fingerprintHex = "16786d4e5ef744112f1ac45c977dffe54d67cc9de645ef8cfed3dea798f0c04e"
    static let ephemeralPrivateKeyHex = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    static let encHex = "493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531d"
    static let sealedDataKeyHex =
        "df7eaffbec91f092aaacacf9e89f1d3a8e180884179aef261a7d853f0ca0ba5572997795538a2492b401e0f7be83a336"
    static let hpkeInfoHex =
        "7374726f6e67726f6f6d2f7265636f766572792f7632a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0b616c6963652d736861"
        + "72650000000000000001"
    static let headerHex =
        "5352534802010000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0b616c6963652d7368617265000000000000000100000000"
        + "6955b900000d7b227061727479223a2231227d"
    static let blobHex =
        "5352534802010000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0b616c6963652d7368617265000000000000000100000000"
        + "6955b900000d7b227061727479223a2231227d0201005320613061316132613361346135613661376138613961616162"
        + "616361646165616600000001000021090028e629e079f718c422fc2c0b2d476f5673b98e8ddaf66d75cef867709f06bf"
        + "1f7ca6d2de3a61ba849602007600200001000216786d4e5ef744112f1ac45c977dffe54d67cc9de645ef8cfed3dea798"
        + "f0c04e493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531ddf7eaffbec91f092aaacacf9e8"
        + "9f1d3a8e180884179aef261a7d853f0ca0ba5572997795538a2492b401e0f7be83a3360cc0c1c2c3c4c5c6c7c8c9cacb"
        + "000000122b2c42ab09f252871099575ecad1c7edbcc4ae5e8f36a83c7867645175433d4426e3"
}
