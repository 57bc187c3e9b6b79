// RFC 9591 ("The Flexible Round-Optimized Schnorr Threshold (FROST) Protocol for Two-Round Schnorr
// Signatures"), Appendix E test vectors, transcribed from the CFRG draft repository
// cfrg/draft-irtf-cfrg-frost, poc/vectors/*.json at commit 127452b (the published RFC values).
// E.1 FROST(Ed25519, SHA-512): scalars little-endian. E.5 FROST(secp256k1, SHA-256): scalars big-endian,
// signatures 65 bytes (compressed R || z).

struct RFC9591Vector {
    struct Participant {
        let identifier: UInt16
        let hidingNonceRandomness: String
        let bindingNonceRandomness: String
        let hidingNonce: String
        let bindingNonce: String
        let hidingNonceCommitment: String
        let bindingNonceCommitment: String
        let bindingFactorInput: String
        let bindingFactor: String
        let sigShare: String
    }
    let name: String
    let maxParticipants: UInt16
    let minParticipants: UInt16
    let participantList: [UInt16]
    let groupSecretKey: String
    let groupPublicKey: String
    let message: String
    let sharePolynomialCoefficients: [String]
    let participantShares: [(UInt16, String)]
    let participants: [Participant]
    let signature: String
}

extension RFC9591Vector {
    /// RFC 9591 Appendix E.1, FROST(Ed25519, SHA-512).
    static let ed25519 = RFC9591Vector(
        name: "FROST(Ed25519, SHA-512)",
        maxParticipants: 3, minParticipants: 2,
        participantList: [1, 3],
        groupSecretKey: "7b1c33d3f5291d85de664833beb1ad469f7fb6025a0ec78b3a790c6e13a98304",
        groupPublicKey: "15d21ccd7ee42959562fc8aa63224c8851fb3ec85a3faf66040d380fb9738673",
        message: "74657374",
        sharePolynomialCoefficients: ["178199860edd8c62f5212ee91eff1295d0d670ab4ed4506866bae57e7030b204"],
        participantShares: [
            (1, "929dcc590407aae7d388761cddb0c0db6f5627aea8e217f4a033f2ec83d93509"),
            (2, "a91e66e012e4364ac9aaa405fcafd370402d9859f7b6685c07eed76bf409e80d"),
            (3, "d3cb090a075eb154e82fdb4b3cb507f110040905468bb9c46da8bdea643a9a02"),
        ],
        participants: [
            Participant(
                identifier: 1,
                hidingNonceRandomness: "0fd2e39e111cdc266f6c0f4d0fd45c947761f1f5d3cb583dfcb9bbaf8d4c9fec",
                bindingNonceRandomness: "69cd85f631d5f7f2721ed5e40519b1366f340a87c2f6856363dbdcda348a7501",
                hidingNonce: "812d6104142944d5a55924de6d49940956206909f2acaeedecda2b726e630407",
                bindingNonce: "b1110165fc2334149750b28dd813a39244f315cff14d4e89e6142f262ed83301",
                hidingNonceCommitment: "b5aa8ab305882a6fc69cbee9327e5a45e54c08af61ae77cb8207be3d2ce13de3",
                bindingNonceCommitment: "67e98ab55aa310c3120418e5050c9cf76cf387cb20ac9e4b6fdb6f82a469f932",
                bindingFactorInput: "15d21ccd7ee42959562fc8aa63224c8851fb3ec85a3faf66040d380fb9738673504df914fa965023fb75c25ded4bb260f417de6d32e5c442c6ba313791cc9a4948d6273e8d3511f93348ea7a708a9b862bc73ba2a79cfdfe07729a193751cbc973af46d8ac3440e518d4ce440a0e7d4ad5f62ca8940f32de6d8dc00fc12c660b817d587d82f856d277ce6473cae6d2f5763f7da2e8b4d799a3f3e725d4522ec70100000000000000000000000000000000000000000000000000000000000000",
                bindingFactor: "f2cb9d7dd9beff688da6fcc83fa89046b3479417f47f55600b106760eb3b5603",
                sigShare: "001719ab5a53ee1a12095cd088fd149702c0720ce5fd2f29dbecf24b7281b603"),
            Participant(
                identifier: 3,
                hidingNonceRandomness: "86d64a260059e495d0fb4fcc17ea3da7452391baa494d4b00321098ed2a0062f",
                bindingNonceRandomness: "13e6b25afb2eba51716a9a7d44130c0dbae0004a9ef8d7b5550c8a0e07c61775",
                hidingNonce: "c256de65476204095ebdc01bd11dc10e57b36bc96284595b8215222374f99c0e",
                bindingNonce: "243d71944d929063bc51205714ae3c2218bd3451d0214dfb5aeec2a90c35180d",
                hidingNonceCommitment: "cfbdb165bd8aad6eb79deb8d287bcc0ab6658ae57fdcc98ed12c0669e90aec91",
                bindingNonceCommitment: "7487bc41a6e712eea2f2af24681b58b1cf1da278ea11fe4e8b78398965f13552",
                bindingFactorInput: "15d21ccd7ee42959562fc8aa63224c8851fb3ec85a3faf66040d380fb9738673504df914fa965023fb75c25ded4bb260f417de6d32e5c442c6ba313791cc9a4948d6273e8d3511f93348ea7a708a9b862bc73ba2a79cfdfe07729a193751cbc973af46d8ac3440e518d4ce440a0e7d4ad5f62ca8940f32de6d8dc00fc12c660b817d587d82f856d277ce6473cae6d2f5763f7da2e8b4d799a3f3e725d4522ec70300000000000000000000000000000000000000000000000000000000000000",
                bindingFactor: "b087686bf35a13f3dc78e780a34b0fe8a77fef1b9938c563f5573d71d8d7890f",
                sigShare: "bd86125de990acc5e1f13781d8e32c03a9bbd4c53539bbc106058bfd14326007"),
        ],
        signature: "36282629c383bb820a88b71cae937d41f2f2adfcc3d02e55507e2fb9e2dd3cbebd9d2b0844e49ae0f3fa935161e1419aab7b47d21a37ebeae1f17d4987b3160b")
}

extension RFC9591Vector {
    /// RFC 9591 Appendix E.5, FROST(secp256k1, SHA-256).
    static let secp256k1 = RFC9591Vector(
        name: "FROST(secp256k1, SHA-256)",
        maxParticipants: 3, minParticipants: 2,
        participantList: [1, 3],
        groupSecretKey: "0d004150d27c3bf2a42f312683d35fac7394b1e9e318249c1bfe7f0795a83114",
        groupPublicKey: "02f37c34b66ced1fb51c34a90bdae006901f10625cc06c4f64663b0eae87d87b4f",
        message: "74657374",
        sharePolynomialCoefficients: ["fbf85eadae3058ea14f19148bb72b45e4399c0b16028acaf0395c9b03c823579"],
        participantShares: [
            (1, "08f89ffe80ac94dcb920c26f3f46140bfc7f95b493f8310f5fc1ea2b01f4254c"),
            (2, "04f0feac2edcedc6ce1253b7fab8c86b856a797f44d83d82a385554e6e401984"),
            (3, "00e95d59dd0d46b0e303e500b62b7ccb0e555d49f5b849f5e748c071da8c0dbc"),
        ],
        participants: [
            Participant(
                identifier: 1,
                hidingNonceRandomness: "7ea5ed09af19f6ff21040c07ec2d2adbd35b759da5a401d4c99dd26b82391cb2",
                bindingNonceRandomness: "47acab018f116020c10cb9b9abdc7ac10aae1b48ca6e36dc15acb6ec9be5cdc5",
                hidingNonce: "841d3a6450d7580b4da83c8e618414d0f024391f2aeb511d7579224420aa81f0",
                bindingNonce: "8d2624f532af631377f33cf44b5ac5f849067cae2eacb88680a31e77c79b5a80",
                hidingNonceCommitment: "03c699af97d26bb4d3f05232ec5e1938c12f1e6ae97643c8f8f11c9820303f1904",
                bindingNonceCommitment: "02fa2aaccd51b948c9dc1a325d77226e98a5a3fe65fe9ba213761a60123040a45e",
                bindingFactorInput: "02f37c34b66ced1fb51c34a90bdae006901f10625cc06c4f64663b0eae87d87b4fff9b5210ffbb3c07a73a7c8935be4a8c62cf015f6cf7ade6efac09a6513540fc3f5a816aaebc2114a811a415d7a55db7c5cbc1cf27183e79dd9def941b5d48010000000000000000000000000000000000000000000000000000000000000001",
                bindingFactor: "3e08fe561e075c653cbfd46908a10e7637c70c74f0a77d5fd45d1a750c739ec6",
                sigShare: "c4fce1775a1e141fb579944166eab0d65eefe7b98d480a569bbbfcb14f91c197"),
            Participant(
                identifier: 3,
                hidingNonceRandomness: "e6cc56ccbd0502b3f6f831d91e2ebd01c4de0479e0191b66895a4ffd9b68d544",
                bindingNonceRandomness: "7203d55eb82a5ca0d7d83674541ab55f6e76f1b85391d2c13706a89a064fd5b9",
                hidingNonce: "2b19b13f193f4ce83a399362a90cdc1e0ddcd83e57089a7af0bdca71d47869b2",
                bindingNonce: "7a443bde83dc63ef52dda354005225ba0e553243402a4705ce28ffaafe0f5b98",
                hidingNonceCommitment: "03077507ba327fc074d2793955ef3410ee3f03b82b4cdc2370f71d865beb926ef6",
                bindingNonceCommitment: "02ad53031ddfbbacfc5fbda3d3b0c2445c8e3e99cbc4ca2db2aa283fa68525b135",
                bindingFactorInput: "02f37c34b66ced1fb51c34a90bdae006901f10625cc06c4f64663b0eae87d87b4fff9b5210ffbb3c07a73a7c8935be4a8c62cf015f6cf7ade6efac09a6513540fc3f5a816aaebc2114a811a415d7a55db7c5cbc1cf27183e79dd9def941b5d48010000000000000000000000000000000000000000000000000000000000000003",
                bindingFactor: "93f79041bb3fd266105be251adaeb5fd7f8b104fb554a4ba9a0becea48ddbfd7",
                sigShare: "0160fd0d388932f4826d2ebcd6b9eaba734f7c71cf25b4279a4ca2581e47b18d"),
        ],
        signature: "0205b6d04d3774c8929413e3c76024d54149c372d57aae62574ed74319b5ea14d0c65dde8492a7471437e6c2fe3da49b90d23f642b5c6dbe7e36089f096dd97324")
}
