import AWSClient
import SecureCrypto
import Testing

/// SigV4 against the AWS test suite (vectors in SigV4TestSuiteVectors.swift, source named there).
@Suite struct SigV4Tests {
    static func secret(_ text: String) throws -> SecretBytes {
        try Array(text.utf8).withUnsafeBytes { try SecretBytes(copying: $0) }
    }

    static func signer(for vector: SigV4TestCase) throws -> SigV4Signer {
        let token = sigV4OmitSessionTokenCases.contains(vector.name) ? nil : vector.sessionToken
        let credentials = AWSCredentials(
            accessKeyID: vector.accessKeyID, secretAccessKey: try secret(vector.secretAccessKey),
            sessionToken: try token.map(secret))
        return SigV4Signer(
            credentials: credentials, region: vector.region, service: vector.service,
            options: .init(normalizePath: vector.normalize, signPayloadHashHeader: vector.signBody))
    }

    @Test(arguments: sigV4TestSuite.map(\.name))
    func matchesTheAWSTestSuite(_ name: String) throws {
        let vector = try #require(sigV4TestSuite.first { $0.name == name })
        let request = SigV4Signer.Request(
            method: vector.method, path: vector.path, query: SigV4Signer.parseQuery(vector.query),
            headers: vector.headers, payloadHash: SHA256.hexHash(Array(vector.body.utf8)))
        let signed = try Self.signer(for: vector).sign(request, timestamp: vector.timestamp)
        #expect(signed.canonicalRequest == vector.canonicalRequest)
        #expect(signed.stringToSign == vector.stringToSign)
        #expect(signed.signature == vector.signature)
        if let authorization = vector.authorization {
            #expect(signed.headers.first { $0.0 == "authorization" }?.1 == authorization)
        }
    }

    @Test func theSuiteIsAllThere() {
        #expect(sigV4TestSuite.count == 38)
    }

    @Test func aChangedSecretChangesTheSignature() throws {
        let vector = try #require(sigV4TestSuite.first { $0.name == "get-vanilla" })
        let credentials = AWSCredentials(accessKeyID: vector.accessKeyID, secretAccessKey: try Self.secret("not the secret"))
        let signer = SigV4Signer(credentials: credentials, region: vector.region, service: vector.service, options: .standard)
        let request = SigV4Signer.Request(
            method: "GET", path: "/", query: [], headers: vector.headers, payloadHash: SHA256.hexHash([]))
        let signed = try signer.sign(request, timestamp: vector.timestamp)
        #expect(signed.canonicalRequest == vector.canonicalRequest)
        #expect(signed.signature != vector.signature)
    }

    /// S3 signs keys as they are: no `..` removal, no slash collapsing, one encoding, and the
    /// payload hash header signed.
    @Test func s3PathsAreNotNormalised() throws {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: try Self.secret("x")),
            region: "us-east-1", service: "s3", options: .s3)
        let request = SigV4Signer.Request(
            method: "PUT", path: "/bucket/a//b/../c d", query: [("versionId", "x/y")],
            headers: [("Host", "s3.example.com")], payloadHash: SHA256.hexHash([]))
        let signed = try signer.sign(request, timestamp: "20150830T123600Z")
        let lines = signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[1] == "/bucket/a//b/../c%20d")
        #expect(lines[2] == "versionId=x%2Fy")
        #expect(signed.canonicalRequest.contains("x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"))
        #expect(signed.headers.map(\.0) == ["x-amz-date", "x-amz-content-sha256", "authorization"])
    }

    @Test func credentialsNeverPrintTheirSecrets() throws {
        let credentials = AWSCredentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: try Self.secret("wJalrXUtnFEMI"), sessionToken: try Self.secret("tok3n"))
        let text = "\(credentials)"
        #expect(text.contains("AKIDEXAMPLE"))
        #expect(!text.contains("wJalrXUtnFEMI"))
        #expect(!text.contains("tok3n"))
    }
}

/// SHA-256 and HMAC-SHA256 known answers.
@Suite struct DigestTests {
    /// FIPS 180-2 Appendix B.1: SHA-256("abc").
    @Test func sha256OfABC() {
        #expect(SHA256.hexHash(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// RFC 4231 section 4.3, test case 2: key "Jefe", data "what do ya want for nothing?".
    @Test func hmacSHA256RFC4231Case2() throws {
        let key = try SigV4Tests.secret("Jefe")
        let mac = HMACSHA256.mac(key: key, message: Array("what do ya want for nothing?".utf8))
        #expect(Hex.encode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
