import Foundation
import Testing

/// Tier 2 (the moto server scripts/test starts): write access to the bucket is not enough to change a
/// FROST group's key, and the server's own error message reaches the user.
@Suite struct CloudFrostRecordCLITests: CloudServerSuite {
    let server: CloudTestServer

    init() throws { server = try CloudTestServer() }

    /// Runs a boto3 snippet against the bucket with `s3` and `bucket` defined, as someone with write
    /// access to the bucket (and no KMS rights needed) would.
    func bucketScript(_ body: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = """
            import boto3, sys
            s3 = boto3.client("s3", endpoint_url=\"\(endpoint)\", region_name=\"\(region)\", \
            aws_access_key_id=\"\(accessKey)\", aws_secret_access_key=\"\(secretKey)\")
            bucket = \"\(bucket)\"
            \(body)
            """
        process.arguments = ["python3", "-c", script]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func aTamperedTier2GroupRecordIsRefusedByVerifyAndInfo() throws {
        var cli = try CLI()
        defer { cli.cleanup() }
        cli.environment["AWS_ACCESS_KEY_ID"] = accessKey
        cli.environment["AWS_SECRET_ACCESS_KEY"] = secretKey
        let prefix = "frost-record-\(UUID().uuidString.prefix(8).lowercased())/"
        let config = try cli.writeConfig(
            "cloud.yaml", "tier: cloud\ncloud:\n  endpoint: \(endpoint)\n  bucket: \(bucket)\n  prefix: \(prefix)\n  keyDeletionWindowDays: 7\n")
        #expect(try cli.run(["init", "--config", config]).status == 0)
        let group = ["--config", config, "--group", "treasury"]
        let keygen = try cli.run(["frost", "keygen"] + group + ["--threshold", "2", "--participants", "2"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let signed = try cli.run(["frost", "sign"] + group + ["--signers", "1,2", "--message", "move 5"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let signature = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let verify = ["frost", "verify"] + group + ["--signature", signature, "--message", "move 5"]
        #expect(try cli.run(verify).status == 0)
        let info = try cli.run(["frost", "info"] + group)
        #expect(info.status == 0, "\(info.stderr)")
        let genuine = try FrostRecordCLITests.parseInfo(info.stdout)

        // A byte of the sealed record object flipped by someone who can write the bucket.
        let key = "\(prefix)records/frost.treasury.srb"
        let flip = try bucketScript("""
            body = bytearray(s3.get_object(Bucket=bucket, Key="\(key)")["Body"].read())
            assert body[:4] == b"SRSH", body[:4]
            body[-20] ^= 1
            s3.put_object(Bucket=bucket, Key="\(key)", Body=bytes(body))
            """)
        #expect(flip.status == 0, "\(flip.output)")
        let refused = try cli.run(verify)
        #expect(refused.status == 65, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("did not authenticate"), "\(refused.stderr)")
        let shown = try cli.run(["frost", "info"] + group)
        #expect(shown.status == 65 && !shown.stdout.contains(genuine.groupKey), "\(shown.stdout)")

        // The sealed record deleted and a clear-text one with another group key written in its place.
        var forgedMembers = genuine.members
        for index in forgedMembers.indices { forgedMembers[index].verifyingShare = genuine.groupKey }
        let forgedKey = genuine.members[0].verifyingShare
        let forged = String(
            decoding: FrostRecordCLITests.clearTextRecord(
                group: "treasury", suite: "ed25519", groupKey: forgedKey, members: forgedMembers, shareGroup: "treasury"),
            as: UTF8.self)
        let replace = try bucketScript("""
            s3.delete_object(Bucket=bucket, Key="\(key)")
            s3.put_object(Bucket=bucket, Key="\(prefix)records/frost.treasury.json", Body=b'\(forged)')
            """)
        #expect(replace.status == 0, "\(replace.output)")
        let clear = try cli.run(verify)
        #expect(clear.status == 65, "\(clear.stdout)\(clear.stderr)")
        #expect(clear.stderr.contains("clear-text record"), "\(clear.stderr)")
        let clearInfo = try cli.run(["frost", "info"] + group)
        #expect(clearInfo.status == 65 && !clearInfo.stdout.contains(forgedKey), "\(clearInfo.stdout)")
        let upgrade = try cli.run(["frost", "upgrade"] + group)
        #expect(upgrade.status == 65 && upgrade.stderr.contains("was not upgraded"), "\(upgrade.stdout)\(upgrade.stderr)")

        // The server's own message survives into the error a user sees.
        let wrongSecret = try cli.run(
            ["get", "--config", config, "--stdout", "frost.treasury.p1"],
            environment: ["AWS_SECRET_ACCESS_KEY": "definitely-wrong-secret", "STRONGROOM_CLOUD_MAX_ATTEMPTS": "1"])
        #expect(wrongSecret.status == 77, "\(wrongSecret.stderr)")
        #expect(wrongSecret.stderr.contains("SignatureDoesNotMatch"), "\(wrongSecret.stderr)")
        #expect(wrongSecret.stderr.contains("signature"), "\(wrongSecret.stderr)")
        #expect(!wrongSecret.stderr.contains("definitely-wrong-secret"))

        #expect(try bucketScript("""
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="\(prefix)"):
                for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
            """).status == 0)
    }
}
