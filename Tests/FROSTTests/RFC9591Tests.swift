internal import CSodium
@testable import FROST
import SecureCrypto
import Testing

/// RFC 9591 Appendix E, reproduced byte for byte (vectors in RFC9591Vectors.swift).
@Suite struct RFC9591Tests {
    static let cases: [(Ciphersuite, RFC9591Vector)] = [(.ed25519, .ed25519), (.secp256k1, .secp256k1)]

    @Test(arguments: [Ciphersuite.ed25519, .secp256k1])
    func reproducesAppendixE(_ suite: Ciphersuite) throws {
        let vector = suite == .ed25519 ? RFC9591Vector.ed25519 : RFC9591Vector.secp256k1
        #expect(vector.name == suite.description)

        // Key generation by the trusted dealer with the vector's secret and coefficient.
        let dealt = try FROST.trustedDealerKeygen(
            suite: suite, minSigners: vector.minParticipants, maxSigners: vector.maxParticipants,
            secret: scalar(vector.groupSecretKey, suite), coefficients: vector.sharePolynomialCoefficients.map { try scalar($0, suite) })
        #expect(hex(try dealt.publicKeyPackage.groupKey.serialize()) == vector.groupPublicKey)
        for (id, share) in vector.participantShares {
            let package = try #require(dealt.keyPackages.first { $0.identifier == id })
            #expect(hex(package.signingShare) == share, "participant \(id)'s share")
        }

        // Round one with the vector's nonce randomness.
        let groupKey = try Element.deserialize(bytes(vector.groupPublicKey), suite)
        var nonces: [ParticipantID: SigningNonces] = [:]
        for p in vector.participants {
            let share = try scalar(vector.participantShares.first { $0.0 == p.identifier }!.1, suite)
            let n = try FROST.commit(
                identifier: p.identifier, signingShare: share,
                hidingRandomness: secret(p.hidingNonceRandomness), bindingRandomness: secret(p.bindingNonceRandomness))
            let values = try #require(n.peek())
            #expect(hex(values.hiding) == p.hidingNonce)
            #expect(hex(values.binding) == p.bindingNonce)
            #expect(hex(try n.commitments.hiding.serialize()) == p.hidingNonceCommitment)
            #expect(hex(try n.commitments.binding.serialize()) == p.bindingNonceCommitment)
            nonces[p.identifier] = n
        }

        // Binding factors.
        let message = bytes(vector.message)
        let package = try SigningPackage(suite: suite, commitments: nonces.values.map(\.commitments), message: message)
        let prefix = try package.bindingFactorPrefix(groupKey: groupKey)
        let derived = try package.derive(groupKey: groupKey)
        for p in vector.participants {
            #expect(hex(prefix + (try p.identifier.scalar(suite).publicEncoding())) == p.bindingFactorInput)
            #expect(hex(try #require(derived.bindingFactors[p.identifier])) == p.bindingFactor)
        }

        // Round two and aggregation.
        var shares: [SignatureShare] = []
        for p in vector.participants {
            let key = try #require(dealt.keyPackages.first { $0.identifier == p.identifier })
            let share = try FROST.sign(package, nonces: nonces[p.identifier]!, keyPackage: key)
            #expect(hex(share.share) == p.sigShare, "participant \(p.identifier)'s signature share")
            #expect(try FROST.verifySignatureShare(share, verifyingShare: key.verifyingShare, package: package, groupKey: groupKey))
            shares.append(share)
        }
        let signature = try FROST.aggregate(package, shares: shares, publicKeys: dealt.publicKeyPackage, verification: .always)
        #expect(hex(try signature.serialized()) == vector.signature)
        #expect(try signature.serialized().count == suite.signatureLength)
        #expect(FROST.verify(signature: bytes(vector.signature), message: message, groupKey: groupKey))
        #expect(!FROST.verify(signature: bytes(vector.signature), message: message + [0], groupKey: groupKey))
    }

    @Test func ed25519GroupSignatureVerifiesWithLibsodium() throws {
        let vector = RFC9591Vector.ed25519
        let signature = bytes(vector.signature)
        let message = bytes(vector.message)
        let key = bytes(vector.groupPublicKey)
        #expect(crypto_sign_verify_detached(signature, message, UInt64(message.count), key) == 0)
        var flipped = signature
        flipped[40] ^= 1
        #expect(crypto_sign_verify_detached(flipped, message, UInt64(message.count), key) != 0)

        // And a fresh 3-of-5 group signature over a longer message.
        let dealt = try FROST.trustedDealerKeygen(suite: .ed25519, minSigners: 3, maxSigners: 5)
        let text = Array("pay 1 BTC to the strongroom".utf8)
        let fresh = try signAll(dealt.keyPackages, group: dealt.publicKeyPackage, signers: [2, 4, 5], message: text)
        let groupKey = try dealt.publicKeyPackage.groupKey.serialize()
        #expect(crypto_sign_verify_detached(try fresh.serialized(), text, UInt64(text.count), groupKey) == 0)
    }
}
