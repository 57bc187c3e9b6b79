import Foundation
import PKCS11
import SecureCrypto
import StrongroomConformance
import Synchronization
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// Tier 3 behaviour beyond the conformance suite, against the SoftHSM tokens scripts/test makes.
///
/// Login state and `C_Finalize` belong to the whole process, so the tests that log in with a wrong
/// PIN or finalise the module load their own copy of the SoftHSM library (a separate dlopen instance
/// with its own state) and use the second token; the suite runs them one at a time.
@Suite(.serialized) struct HSMTierTests {
    let environment: HSMTestEnvironment
    init() throws { environment = try HSMTestEnvironment.require() }

    /// A private copy of the module file: dlopen gives it its own Cryptoki state.
    func isolatedModule(_ directory: TemporaryDirectory) throws -> String {
        let copy = "\(directory.path)/libsofthsm2-copy-\(UUID().uuidString).so"
        // The module path may be a (relative) symlink: copy the library it points at.
        let target = URL(fileURLWithPath: environment.module).resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: target, toPath: copy)
        return copy
    }

    @Test func wrongPINIsAClearErrorAndIsNotRetried() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let module = try isolatedModule(directory)
        let pinFile = "\(directory.path)/wrong.pin"
        FileManager.default.createFile(atPath: pinFile, contents: Data("not-the-pin\n".utf8), attributes: [.posixPermissions: 0o600])
        var settings = environment.settings(blobPath: "\(directory.path)/vault", token: environment.tokenB, module: module)
        settings.pinFile = pinFile
        let loaded = try PKCS11Module.load(path: module)
        let before = loaded.loginCalls
        let error = await #expect(throws: StrongroomError.self) { try await HSMVault.initialise(settings, logger: quietLogger) }
        #expect(error?.code == .hsmLoginFailed)
        #expect(error?.cause?.contains("C_Login returned CKR_PIN_INCORRECT") == true)
        #expect(loaded.loginCalls == before + 1, "one C_Login, no retry loop")
        #expect(!"\(error!)".contains("not-the-pin"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/vault/vault.json"))
    }

    @Test func missingModuleNonModuleAndUnknownTokenAreClearErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var settings = environment.settings(blobPath: "\(directory.path)/vault")
        settings.modulePath = "\(directory.path)/no-such-module.so"
        let missing = await #expect(throws: StrongroomError.self) { try await HSMVault.initialise(settings, logger: quietLogger) }
        #expect(missing?.code == .hsmUnavailable)
        #expect(missing?.reason.contains("no-such-module.so: no such file") == true)

        // A real shared library that is not a PKCS#11 module.
        let notAModule = try #require(
            ["/usr/lib/x86_64-linux-gnu/libsodium.so", "/usr/lib/aarch64-linux-gnu/libsodium.so"].first {
                FileManager.default.fileExists(atPath: $0)
            })
        settings.modulePath = notAModule
        let wrong = await #expect(throws: StrongroomError.self) { try await HSMVault.initialise(settings, logger: quietLogger) }
        #expect(wrong?.reason.contains("not a PKCS#11 module") == true)

        settings = environment.settings(blobPath: "\(directory.path)/vault", token: "no-such-token")
        let unknown = await #expect(throws: StrongroomError.self) { try await HSMVault.initialise(settings, logger: quietLogger) }
        #expect(unknown?.code == .hsmUnavailable)
        #expect(unknown?.reason.contains("no token labelled 'no-such-token'") == true)
        #expect(unknown?.reason.contains("'\(environment.token)'") == true, "lists the labels present")
        #expect(unknown?.reason.contains("'\(environment.tokenB)'") == true)
    }

    @Test func pinFileMustBeOwnerOnlyAndPINIsNeverPrinted() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let pin = try #require(ProcessInfo.processInfo.environment[HSMTestEnvironment.pinVariable])
        let pinFile = "\(directory.path)/user.pin"
        FileManager.default.createFile(atPath: pinFile, contents: Data((pin + "\n").utf8), attributes: [.posixPermissions: 0o644])
        var settings = environment.settings(blobPath: "\(directory.path)/vault")
        settings.pinFile = pinFile
        let open = await #expect(throws: StrongroomError.self) { try await HSMVault.initialise(settings, logger: quietLogger) }
        #expect(open?.code == .insecurePermissions)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: pinFile)
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        let store = try await HSMVault.open(settings, logger: quietLogger)
        _ = try await store.store(try id("a"), secret("x"))
        let configuration = StrongroomConfiguration(
            provider: HSMTierProvider(), settings: settings, lockTimeout: .seconds(1), source: "test")
        #expect(!"\(configuration)".contains(pin))
        #expect(!"\(store)".contains(pin))
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
    }

    @Test func kekIsNonExtractableAndOldKEKIsDestroyedOnlyAfterEveryShareIsRewrapped() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = environment.settings(blobPath: "\(directory.path)/vault")
        let vault = try await HSMVault.initialise(settings, logger: quietLogger)
        let store = try await HSMVault.open(settings, logger: quietLogger)
        let keyring = try #require(store.keyring as? HSMKeyring)
        let label1 = "strongroom/\(vault.hex)/kek/1"
        #expect(keyring.kekLabel(1) == label1)

        try await keyring.connection.withSession { session in
            let kek = try #require(try session.key(labelled: label1))
            #expect(try session.flag(.sensitive, of: kek))
            #expect(try !session.flag(.extractable, of: kek))
            #expect(try session.flag(.neverExtractable, of: kek))
            #expect(try session.flag(.token, of: kek))
            #expect(throws: PKCS11Error.self) { try session.attribute(.value, of: kek) }
            let other = try session.generateAESKey(HSMKeyring.dataKeyTemplate())
            defer { try? session.destroy(other) }
            // A key with CKA_WRAP would be needed to even try; the KEK itself must refuse to be wrapped.
            let wrapping = try session.generateAESKey([
                .objectClass(.secretKey), .keyType(.aes), .valueLength(32), .token(false), .wrap(true), .unwrap(true),
            ])
            defer { try? session.destroy(wrapping) }
            let refused = #expect(throws: PKCS11Error.self) { try session.wrap(kek, with: wrapping, mechanism: .aesKeyWrap) }
            #expect(refused?.name == "CKR_KEY_UNEXTRACTABLE")
        }

        for index in 0..<4 { _ = try await store.store(try id("s\(index)"), secret("secret \(index)")) }
        // Corrupt one blob: the rotation must stop short and leave KEK 1 on the token.
        let path = "\(settings.blobPath)/shares/s0/1.srb"
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let incomplete = await #expect(throws: StrongroomError.self) { try await store.rotateWrappingKey() }
        #expect(incomplete?.code == .rotationIncomplete)
        #expect(try await kekExists(keyring, label1))
        #expect(text(try await store.load(try id("s1"))) == "secret 1")

        _ = try await store.erase(try id("s0"))
        let report = try await store.rotateWrappingKey()
        #expect(report.failures.isEmpty)
        #expect(try await !kekExists(keyring, label1), "old KEK destroyed after the rotation finished")
        #expect(try await kekExists(keyring, keyring.kekLabel(2)))
        for index in 1..<4 { #expect(text(try await store.load(try id("s\(index)"))) == "secret \(index)") }
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
    }

    @Test func tamperedBlobIsAnIntegrityErrorCarryingTheHSMsAnswer() async throws {
        try await withFixture(.hsm) { fixture in
            let store = try await fixture.open()
            let share = try id("t")
            _ = try await store.store(share, secret("tamper me"))
            let path = "\((fixture as! HSMFixture).settings.blobPath)/shares/t/1.srb"
            var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
            let envelope = try Envelope(parsing: bytes)
            // Flip a bit of the wrapped key: SoftHSM answers CKR_GENERAL_ERROR on C_UnwrapKey.
            let wrapped = envelope.sealed.wrappedKey
            let start = try #require((0...(bytes.count - wrapped.count)).first { Array(bytes[$0..<($0 + wrapped.count)]) == wrapped })
            bytes[start + 3] ^= 0x10
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let error = await #expect(throws: StrongroomError.self) { try await store.load(share) }
            #expect(error?.code == .integrityCheckFailed)
            #expect(error?.cause?.contains("C_UnwrapKey returned CKR_") == true)
        }
    }

    @Test func loadsGoOnWhileTheModuleIsFinalisedAndReinitialisedBehindTheLayersBack() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let module = try isolatedModule(directory)
        let settings = environment.settings(blobPath: "\(directory.path)/vault", token: environment.tokenB, module: module)
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        let store = try await HSMVault.open(settings, logger: quietLogger)
        let keyring = try #require(store.keyring as? HSMKeyring)
        let ids = try (0..<16).map { try id("r\($0)") }
        for (index, share) in ids.enumerated() { _ = try await store.store(share, secret("value \(index)")) }

        let raw = try PKCS11Module.load(path: module)
        let generationBefore = raw.generation
        let stop = Counter()
        let loads = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var index = worker
                    while stop.value == 0 {
                        let share = ids[index % ids.count]
                        let value = try await store.load(share)
                        #expect(text(value) == "value \(index % ids.count)")
                        loads.increment()
                        index += 1
                        await Task.yield()  // loads rarely suspend; let the restart task run
                    }
                }
            }
            group.addTask {
                // An HSM restart played four times: finalise + initialise, and once finalise alone
                // (the layer must initialise it itself), with loads running all the while.
                for round in 0..<4 {
                    try await Task.sleep(for: .milliseconds(150))
                    let answers = raw.behindTheLayersBack(finalize: true, initialize: round != 2)
                    #expect(answers.finalize == 0)
                }
                try await Task.sleep(for: .milliseconds(150))
                stop.increment()
            }
            try await group.waitForAll()
        }
        // Alone this run makes well over 100 loads; beside the whole suite on two busy cores, where
        // each load's hop to the Cryptoki pool and back waits for a cooperative thread, 87 were seen,
        // and 37 with a benchmark running as well. What matters is that loads went on throughout.
        #expect(loads.value > 12)
        #expect(keyring.connection.reconnectCount >= 1, "the layer noticed and reconnected")
        #expect(raw.generation > generationBefore)
        // Everything else still works on the recovered connection: store, rotate, load.
        _ = try await store.store(try id("after"), secret("after restart"))
        _ = try await store.rotateWrappingKey()
        #expect(text(try await store.load(try id("after"))) == "after restart")
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
    }

    @Test func loadsRacingARotationAllSucceedAcrossTheOldKEKsDestruction() async throws {
        try await withFixture(.hsm) { fixture in
            let store = try await fixture.open()
            let ids = try (0..<40).map { try id("race\($0)") }
            for (index, share) in ids.enumerated() { _ = try await store.store(share, secret("race \(index)")) }
            let failures = Counter()
            for _ in 0..<3 {
                let done = Counter()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<2 {
                        group.addTask {
                            var index = worker
                            while done.value == 0 {
                                do {
                                    let value = try await store.load(ids[index % ids.count])
                                    if text(value) != "race \(index % ids.count)" { failures.increment() }
                                } catch {
                                    failures.increment()
                                    Issue.record("load during rotation failed: \(error)")
                                }
                                index += 1
                                await Task.yield()
                            }
                        }
                    }
                    group.addTask {
                        _ = try await store.rotateWrappingKey(concurrency: 2)
                        done.increment()
                    }
                    try await group.waitForAll()
                }
            }
            #expect(failures.value == 0)
            #expect(try await store.status().currentKEKVersion == 4)
        }
    }

    @Test func aLoadWhoseKEKIsDestroyedUnderItReadsTheRewrappedBlobAgain() async throws {
        try await withFixture(.hsm) { fixture in
            let share = try id("between")
            _ = try await fixture.open().store(share, secret("still here"))
            let rotations = Counter()
            // The load reads its blob (KEK 1); before it unwraps, a whole rotation runs and destroys KEK 1.
            let racing = try await fixture.open(
                faults: FaultInjection(pausing: { point in
                    guard point == .loadBlobRead, rotations.value == 0 else { return }
                    rotations.increment()
                    _ = try? await fixture.open().rotateWrappingKey()
                }))
            #expect(text(try await racing.load(share)) == "still here")
            #expect(rotations.value == 1)
            #expect(try await racing.versions(share)[0].kekVersion == 2)
            // A blob that still names a destroyed KEK after the re-read is an integrity error (altered
            // or restored from before the rotation), not a hang or a retry loop.
            let path = "\((fixture as! HSMFixture).settings.blobPath)/shares/between/1.srb"
            let old = try Data(contentsOf: URL(fileURLWithPath: path))
            _ = try await fixture.open().rotateWrappingKey()
            try old.write(to: URL(fileURLWithPath: path))
            let error = await #expect(throws: StrongroomError.self) { try await racing.load(share) }
            #expect(error?.code == .integrityCheckFailed)
            #expect(error?.reason.contains("active KEK versions are 3–3") == true, "\(error?.reason ?? "")")
        }
    }

    @Test func destroyedSessionObjectsAreReleasedByRecyclingTheModule() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let module = try isolatedModule(directory)
        let settings = environment.settings(
            blobPath: "\(directory.path)/vault", token: environment.tokenB, module: module, recycleAfter: 50)
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        let store = try await HSMVault.open(settings, logger: quietLogger)
        let share = try id("m")
        _ = try await store.store(share, secret("kept"))
        let raw = try PKCS11Module.load(path: module)
        let before = raw.generation
        for _ in 0..<260 { #expect(text(try await store.load(share)) == "kept") }
        #expect(raw.generation - before >= 5, "re-initialised about every 50 session objects")
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
    }

    private func kekExists(_ keyring: HSMKeyring, _ label: String) async throws -> Bool {
        keyring.connection.forgetKey(labelled: label)
        return try await keyring.connection.withSession { try $0.key(labelled: label) != nil }
    }

    // MARK: Issue 11 items 5–7

    /// One library, two initialisation strings: refused clearly (Cryptoki state is per process), and a
    /// second path to the same library with the same string gives the same module.
    @Test func sameModuleWithOtherInitArgsIsRefusedNotSilentlyShared() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let module = try isolatedModule(directory)
        // SoftHSM takes no initialisation string (it answers CKR_ARGUMENTS_BAD to one): load it without.
        let first = try PKCS11Module.load(path: module)
        let link = "\(directory.path)/link-to-module.so"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: module)
        #expect(try PKCS11Module.load(path: link) === first)
        let refused = #expect(throws: PKCS11SetupError.self) { try PKCS11Module.load(path: link, reserved: "second=2") }
        #expect(refused == .initialisedDifferently(path: link, loadedAs: module))

        var settings = environment.settings(blobPath: "\(directory.path)/vault", module: module)
        settings.initArgs = "second=2"
        let error = await #expect(throws: StrongroomError.self) { try await HSMVault.initialise(settings, logger: quietLogger) }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("already initialised in this process with other initialisation arguments") == true)
        #expect(error?.reason.contains("second=2") == false, "init strings are not echoed")
    }

    /// Two keys with the KEK's label are a configuration problem with advice, not "tampering".
    @Test func aDuplicateKEKLabelIsAClearErrorOfItsOwnKindNotTampering() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = environment.settings(blobPath: "\(directory.path)/vault")
        let vault = try await HSMVault.initialise(settings, logger: quietLogger)
        do {
            let store = try await HSMVault.open(settings, logger: quietLogger)
            _ = try await store.store(try id("dup"), secret("dup share"))
        }
        let label = "strongroom/\(vault.hex)/kek/1"
        let connection = try await HSMVault.connect(settings, logger: quietLogger)
        let stray = try await connection.withSession { session in
            try session.generateAESKey(HSMKeyring.kekTemplate(label: label, id: [1, 2, 3]))
        }
        defer { Task { try? await HSMVault.destroyKeys(settings, logger: quietLogger) } }
        let error = await #expect(throws: StrongroomError.self) { try await HSMVault.open(settings, logger: quietLogger) }
        #expect(error?.code == .configuration, "\(String(describing: error))")
        #expect(error?.code != .integrityCheckFailed)
        #expect(error?.reason.contains("more than one key") == true)
        #expect(error?.reason.contains("not tampering") == true)
        #expect(error?.cause?.contains(label) == true)
        try await connection.withSession { session in try session.destroy(stray) }
        connection.forgetKey(labelled: label)
        let reopened = try await HSMVault.open(settings, logger: quietLogger)
        #expect(try await reopened.load(try id("dup")) == secret("dup share"))
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
    }

    /// "KEK cannot be wrapped out" passes only when the token says why: CKR_KEY_UNEXTRACTABLE or
    /// CKR_KEY_NOT_WRAPPABLE. Any other refusal (a mechanism the token lacks, a general error) proves nothing.
    @Test(arguments: [
        (UInt(0x6A), true), (0x69, true), (0x70, false), (0x71, false), (0x5, false), (0x68, false), (0x113, false),
    ])
    func wrapOutCheckPassesOnlyOnUnextractableOrNotWrappable(rv: UInt, passes: Bool) {
        let verdict = HSMCheck.judgeWrapOut(PKCS11Error("C_WrapKey", rv))
        #expect(verdict.passed == passes)
        #expect(verdict.detail.contains(PKCS11Error.name(of: rv)))
        if !passes { #expect(verdict.detail.contains("could not prove it")) }
    }

    /// Connecting retries a vanished token a bounded number of times, then says so clearly.
    @Test func anUnknownTokenFailsClearlyAfterTheBoundedRetries() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var settings = environment.settings(blobPath: "\(directory.path)/vault", token: "no-such-token-either")
        settings.connectAttempts = 3
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: StrongroomError.self) { try await HSMVault.initialise(settings, logger: quietLogger) }
        let elapsed = clock.now - start
        #expect(error?.code == .hsmUnavailable)
        #expect(error?.reason.contains("after 3 attempts") == true, "\(String(describing: error))")
        #expect(error?.reason.contains("no token labelled 'no-such-token-either'") == true)
        #expect(elapsed >= .milliseconds(30) && elapsed < .seconds(5), "two jittered pauses of 10–20 and 20–40 ms")
    }

    @Test func retryPausesGrowAreJitteredAndCapped() {
        let retry = ConnectRetry(attempts: 10, baseDelay: .milliseconds(20), maxDelay: .milliseconds(400))
        for attempt in 1...9 {
            let cap = min(20 * (1 << (attempt - 1)), 400)
            let pauses = (0..<50).map { _ in retry.pause(after: attempt) }
            #expect(pauses.allSatisfy { $0 >= .milliseconds(cap / 2) && $0 <= .milliseconds(cap) }, "attempt \(attempt)")
            #expect(Set(pauses).count > 1, "jittered")
        }
        #expect(ConnectRetry.isTransient(PKCS11Error("C_Login", 0x5)))
        #expect(ConnectRetry.isTransient(PKCS11SetupError.tokenNotFound(selector: "x", present: [])))
        // A token read while another process rewrites it looks as if it had no user PIN: retried.
        #expect(ConnectRetry.isTransient(PKCS11Error("C_Login", 0x102)))
        for refused: UInt in [0xA0, 0xA1, 0xA2, 0xA3, 0xA4] {
            #expect(!ConnectRetry.isTransient(PKCS11Error("C_Login", refused)), "a refused PIN is never retried")
        }
    }
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }

}

/// The PKCS#11 layer against a second implementation: NSS softokn, loaded with its pReserved string.
@Suite struct PKCS11PortabilityTests {

    @Test func nssSoftokenLoadsWithInitialisationArgumentsAndOffersTheMechanisms() throws {
        let path = try #require(ProcessInfo.processInfo.environment["STRONGROOM_TEST_NSS_MODULE"], "run scripts/test")
        let module = try PKCS11Module.load(path: path, reserved: nssArguments)
        let info = try module.info()
        #expect(info.manufacturer.contains("Mozilla"))
        let tokens = try module.tokens()
        #expect(!tokens.isEmpty)
        let mechanisms = try module.mechanisms(slot: tokens[0].slot)
        let wrap = try #require(mechanisms.first { $0.type == Mechanism.aesKeyWrap.rawValue })
        #expect(wrap.supports(MechanismFlag.wrap) && wrap.supports(MechanismFlag.unwrap))
        let gcm = try #require(mechanisms.first { $0.type == Mechanism.aesGCM.rawValue })
        #expect(gcm.supports(MechanismFlag.encrypt) && gcm.supports(MechanismFlag.decrypt))
    }

    @Test func errorsCarryTheFunctionAndTheCKRName() {
        let error = PKCS11Error("C_Login", 0xA0)
        #expect(error.description == "C_Login returned CKR_PIN_INCORRECT (0xa0)")
        #expect(error.meansLoginRefused)
        #expect(PKCS11Error("C_Decrypt", 0xB3).meansConnectionLost)
        #expect(PKCS11Error("C_UnwrapKey", 0x5).meansIntegrityFailure)
        #expect(PKCS11Error.name(of: 0x8000_0001) == "CKR_VENDOR_DEFINED+0x1")
    }
}

let nssArguments = "configdir='' certPrefix='' keyPrefix='' secmod='' flags=readOnly,noCertDB,noModDB,forceOpen,optimizeSpace"
