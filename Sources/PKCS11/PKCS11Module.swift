#if canImport(Glibc)
import Glibc
#endif
internal import CPKCS11
import Synchronization

/// A PKCS#11 module (a `.so`), loaded with `dlopen` and driven through its `C_GetFunctionList` table.
///
/// One instance per loaded library per process (``load(path:reserved:)`` hands out the same one), because
/// Cryptoki state — initialisation, login, sessions — belongs to the whole process. Every call runs
/// under a shared gate; re-initialising (after the HSM went away, or to let SoftHSM free the session
/// objects it keeps until `C_Finalize`) takes the gate exclusively, so no call is in flight while the
/// module is finalised: PKCS#11 leaves `C_Finalize` during other calls undefined, and SoftHSM frees
/// state that those calls are using. Each re-initialisation bumps ``generation``; sessions and object
/// handles from an older generation are never used again.
public final class PKCS11Module: @unchecked Sendable {
    /// The path the module was loaded from.
    public let path: String
    /// The initialisation string passed as `CK_C_INITIALIZE_ARGS.pReserved` (NSS softokn needs one).
    public let reserved: String?

    let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    private let handle: UnsafeMutableRawPointer
    private let gate: UnsafeMutablePointer<pthread_rwlock_t>
    private let reservedCString: UnsafeMutablePointer<CChar>?
    // Written only while the gate is held exclusively; read under the gate or racily as a hint.
    private let generationCounter = Atomic<UInt64>(1)
    private let loginCounter = Atomic<Int>(0)

    // Keyed by the dlopen handle: one module per loaded library, whatever path named it.
    private static let registry = Mutex<[UInt: PKCS11Module]>([:])
    private let tokenWrites = Mutex(())

    /// Loads (or returns the already loaded) module at `path` and initialises it with
    /// `CKF_OS_LOCKING_OK`, tolerating `CKR_CRYPTOKI_ALREADY_INITIALIZED`.
    ///
    /// Modules are keyed by the library `dlopen` returns, not by the path string: a second path (a
    /// symlink, a relative path) to the same file gives the same library, whose Cryptoki state is
    /// initialised once per process. So a second load with another initialisation string
    /// (`reserved`, for example another NSS database) cannot get a module of its own and is refused
    /// with ``PKCS11SetupError/initialisedDifferently(path:loadedAs:)`` rather than silently sharing
    /// the first initialisation.
    public static func load(path: String, reserved: String? = nil) throws -> PKCS11Module {
        guard access(path, F_OK) == 0 else {
            throw PKCS11SetupError.moduleNotLoadable(path: path, reason: "no such file")
        }
        return try registry.withLock { modules in
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                let reason = dlerror().map { String(cString: $0) } ?? "dlopen failed"
                throw PKCS11SetupError.moduleNotLoadable(path: path, reason: reason)
            }
            let key = UInt(bitPattern: handle)
            if let module = modules[key] {
                dlclose(handle)  // drop the reference this dlopen added; the module keeps its own
                guard module.reserved == reserved else {
                    throw PKCS11SetupError.initialisedDifferently(path: path, loadedAs: module.path)
                }
                return module
            }
            let module = try PKCS11Module(path: path, handle: handle, reserved: reserved)
            modules[key] = module
            return module
        }
    }

    private init(path: String, handle: UnsafeMutableRawPointer, reserved: String?) throws {
        guard let symbol = dlsym(handle, "C_GetFunctionList") else {
            dlclose(handle)
            throw PKCS11SetupError.notAPKCS11Module(path: path)
        }
        let getFunctionList = unsafeBitCast(symbol, to: CK_C_GetFunctionList.self)
        var list: UnsafeMutablePointer<CK_FUNCTION_LIST>?
        let rv = getFunctionList(&list)
        guard rv == CKR_OK, let list else {
            dlclose(handle)
            throw PKCS11Error("C_GetFunctionList", rv)
        }
        self.path = path
        self.reserved = reserved
        self.handle = handle
        self.functions = list
        self.reservedCString = reserved.map { strdup($0) }
        gate = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        // Writer preference: a re-initialisation must not starve behind a steady stream of loads.
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(gate, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        try exclusively { try rawInitialize() }
    }

    deinit {
        // Modules live in the registry for the life of the process; this runs only if init failed late.
        pthread_rwlock_destroy(gate)
        gate.deallocate()
        free(reservedCString)
    }

    /// How many times `C_Login` was called through this module (tests prove there is no retry loop).
    package var loginCalls: Int { loginCounter.load(ordering: .relaxed) }
    func countLogin() { loginCounter.add(1, ordering: .relaxed) }

    /// Incremented by every re-initialisation through this layer.
    public var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    // MARK: The gate

    /// Runs `body` while no re-initialisation can happen. Do not nest.
    func shared<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        return try body()
    }

    /// Runs `body` with no other call in flight.
    func exclusively<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        return try body()
    }

    /// Runs `body` (inside a session's operation) with no other token-object creation or destruction
    /// of this module in flight in this process. SoftHSM 2.6's file object store answers
    /// `CKR_GENERAL_ERROR` when several sessions of one process create token objects at once; these
    /// writes are rare (KEK creation and retirement), so serialising them costs nothing.
    public func serializingTokenWrites<R>(_ body: () throws -> R) rethrows -> R {
        try tokenWrites.withLock { _ in try body() }
    }

    // MARK: Initialisation

    /// `C_Initialize` with `CKF_OS_LOCKING_OK` and the `pReserved` string; returns the raw answer.
    private func callInitialize() -> CK_RV {
        var arguments = CK_C_INITIALIZE_ARGS()
        arguments.flags = CK_FLAGS(CKF_OS_LOCKING_OK)
        arguments.pReserved = UnsafeMutableRawPointer(reservedCString)
        return withUnsafeMutablePointer(to: &arguments) { functions.pointee.C_Initialize!(UnsafeMutableRawPointer($0)) }
    }

    private func rawInitialize() throws {
        let rv = callInitialize()
        guard rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED else { throw PKCS11Error("C_Initialize", rv) }
    }

    /// Finalises and initialises the module again, unless someone already did since `seen`. Every
    /// session and object handle from before is then invalid.
    public func reinitialize(ifGeneration seen: UInt64) throws {
        try exclusively {
            guard generationCounter.load(ordering: .acquiring) == seen else { return }
            _ = functions.pointee.C_Finalize!(nil)  // CKR_CRYPTOKI_NOT_INITIALIZED is fine here
            generationCounter.add(1, ordering: .releasing)
            try rawInitialize()
        }
    }

    /// For tests that play an HSM restart: runs `body` with the raw `C_Finalize`/`C_Initialize` of
    /// the module while no call is in flight, without telling the layer (no generation change).
    package func behindTheLayersBack(finalize: Bool, initialize: Bool) -> (finalize: UInt, initialize: UInt) {
        exclusively {
            let finalized: UInt = finalize ? functions.pointee.C_Finalize!(nil) : 0
            let initialized: UInt = initialize ? callInitialize() : 0
            return (finalized, initialized)
        }
    }

    // MARK: Information

    /// `C_GetInfo`: the Cryptoki version, manufacturer and library description.
    public func info() throws -> ModuleInfo {
        try shared {
            var info = CK_INFO()
            let rv = functions.pointee.C_GetInfo!(&info)
            guard rv == CKR_OK else { throw PKCS11Error("C_GetInfo", rv) }
            return ModuleInfo(
                cryptokiVersion: "\(info.cryptokiVersion.major).\(info.cryptokiVersion.minor)",
                manufacturer: padded(info.manufacturerID), description: padded(info.libraryDescription),
                libraryVersion: "\(info.libraryVersion.major).\(info.libraryVersion.minor)")
        }
    }

    /// The slots that hold a token, with the token's information.
    public func tokens() throws -> [TokenInfo] {
        try shared { try unsafeTokens() }
    }

    func unsafeTokens() throws -> [TokenInfo] {
        var count: CK_ULONG = 0
        var rv = functions.pointee.C_GetSlotList!(CK_BBOOL(CK_TRUE), nil, &count)
        guard rv == CKR_OK else { throw PKCS11Error("C_GetSlotList", rv) }
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
        rv = functions.pointee.C_GetSlotList!(CK_BBOOL(CK_TRUE), &slots, &count)
        guard rv == CKR_OK else { throw PKCS11Error("C_GetSlotList", rv) }
        var result: [TokenInfo] = []
        for slot in slots.prefix(Int(count)) {
            var token = CK_TOKEN_INFO()
            rv = functions.pointee.C_GetTokenInfo!(slot, &token)
            if rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED { continue }
            guard rv == CKR_OK else { throw PKCS11Error("C_GetTokenInfo", rv) }
            var slotInfo = CK_SLOT_INFO()
            rv = functions.pointee.C_GetSlotInfo!(slot, &slotInfo)
            guard rv == CKR_OK else { throw PKCS11Error("C_GetSlotInfo", rv) }
            result.append(
                TokenInfo(
                    slot: UInt(slot), slotDescription: padded(slotInfo.slotDescription), label: padded(token.label),
                    manufacturer: padded(token.manufacturerID), model: padded(token.model),
                    serial: padded(token.serialNumber), flags: UInt(token.flags),
                    firmwareVersion: "\(token.firmwareVersion.major).\(token.firmwareVersion.minor)",
                    hardwareVersion: "\(token.hardwareVersion.major).\(token.hardwareVersion.minor)"))
        }
        return result
    }

    /// Finds the one initialised token matching `selector`, retrying transient failures (see
    /// ``ConnectRetry``) as connecting does: the module is re-initialised before each further attempt.
    public func token(_ selector: TokenSelector, retry: ConnectRetry = .standard) throws -> TokenInfo {
        try retry.run(
            what: "find the token \(selector)", onRetry: { _, _ in try reinitialize(ifGeneration: generation) }
        ) { try shared { try unsafeToken(selector) } }
    }

    func unsafeToken(_ selector: TokenSelector) throws -> TokenInfo {
        let tokens = try unsafeTokens()
        let initialised = tokens.filter { $0.flags & UInt(CKF_TOKEN_INITIALIZED) != 0 }
        let matches = initialised.filter { selector.matches($0) }
        guard let first = matches.first else {
            throw PKCS11SetupError.tokenNotFound(selector: selector.description, present: initialised.map(\.label))
        }
        guard matches.count == 1 else {
            throw PKCS11SetupError.tokenAmbiguous(
                selector: selector, tokens: matches.map { AmbiguousToken(slot: $0.slot, label: $0.label, serial: $0.serial) })
        }
        return first
    }

    /// The mechanisms a slot supports, with their key sizes and flags.
    public func mechanisms(slot: UInt) throws -> [MechanismInfo] {
        try shared {
            var count: CK_ULONG = 0
            var rv = functions.pointee.C_GetMechanismList!(CK_SLOT_ID(slot), nil, &count)
            guard rv == CKR_OK else { throw PKCS11Error("C_GetMechanismList", rv) }
            var types = [CK_MECHANISM_TYPE](repeating: 0, count: Int(count))
            rv = functions.pointee.C_GetMechanismList!(CK_SLOT_ID(slot), &types, &count)
            guard rv == CKR_OK else { throw PKCS11Error("C_GetMechanismList", rv) }
            return try types.prefix(Int(count)).map { type in
                var info = CK_MECHANISM_INFO()
                let rv = functions.pointee.C_GetMechanismInfo!(CK_SLOT_ID(slot), type, &info)
                guard rv == CKR_OK else { throw PKCS11Error("C_GetMechanismInfo", rv) }
                return MechanismInfo(
                    type: UInt(type), minKeySize: UInt(info.ulMinKeySize), maxKeySize: UInt(info.ulMaxKeySize),
                    flags: UInt(info.flags))
            }
        }
    }
}

/// Which token to use: by label, by serial number, or by both (when neither alone is unique: NSS
/// softokn gives both its tokens serial zero).
public enum TokenSelector: Sendable, Hashable, CustomStringConvertible {
    case label(String)
    case serial(String)
    case labelAndSerial(label: String, serial: String)

    func matches(_ token: TokenInfo) -> Bool {
        switch self {
        case .label(let label): token.label == label
        case .serial(let serial): token.serial == serial
        case .labelAndSerial(let label, let serial): token.label == label && token.serial == serial
        }
    }

    public var description: String {
        switch self {
        case .label(let label): "labelled '\(label)'"
        case .serial(let serial): "with serial '\(serial)'"
        case .labelAndSerial(let label, let serial): "labelled '\(label)' with serial '\(serial)'"
        }
    }
}

/// One of several tokens that match a selector.
public struct AmbiguousToken: Sendable, Hashable {
    public var slot: UInt
    public var label: String
    public var serial: String
}

/// `CK_INFO`, as text.
public struct ModuleInfo: Sendable, Hashable {
    public var cryptokiVersion: String
    public var manufacturer: String
    public var description: String
    public var libraryVersion: String
}

/// A slot with its token (`CK_SLOT_INFO` + `CK_TOKEN_INFO`).
public struct TokenInfo: Sendable, Hashable {
    public var slot: UInt
    public var slotDescription: String
    public var label: String
    public var manufacturer: String
    public var model: String
    public var serial: String
    public var flags: UInt
    public var firmwareVersion: String
    public var hardwareVersion: String

    /// The token needs a login before private objects can be used (`CKF_LOGIN_REQUIRED`).
    public var loginRequired: Bool { flags & UInt(CKF_LOGIN_REQUIRED) != 0 }
    /// The token has its own random number generator (`CKF_RNG`).
    public var hasRNG: Bool { flags & UInt(CKF_RNG) != 0 }
    /// The token is write-protected (`CKF_WRITE_PROTECTED`).
    public var writeProtected: Bool { flags & UInt(CKF_WRITE_PROTECTED) != 0 }
}

/// A mechanism a slot supports (`CK_MECHANISM_INFO`).
public struct MechanismInfo: Sendable, Hashable {
    public var type: UInt
    public var minKeySize: UInt
    public var maxKeySize: UInt
    public var flags: UInt

    public func supports(_ flag: MechanismFlag) -> Bool { flags & flag.rawValue != 0 }
}

/// The `CKF_` flags of a mechanism that Strongroom cares about.
public struct MechanismFlag: OptionSet, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let encrypt = MechanismFlag(rawValue: UInt(CKF_ENCRYPT))
    public static let decrypt = MechanismFlag(rawValue: UInt(CKF_DECRYPT))
    public static let generate = MechanismFlag(rawValue: UInt(CKF_GENERATE))
    public static let wrap = MechanismFlag(rawValue: UInt(CKF_WRAP))
    public static let unwrap = MechanismFlag(rawValue: UInt(CKF_UNWRAP))
    public static let sign = MechanismFlag(rawValue: UInt(CKF_SIGN))
    public static let verify = MechanismFlag(rawValue: UInt(CKF_VERIFY))

    public var names: [String] {
        var names: [String] = []
        if contains(.encrypt) { names.append("CKF_ENCRYPT") }
        if contains(.decrypt) { names.append("CKF_DECRYPT") }
        if contains(.generate) { names.append("CKF_GENERATE") }
        if contains(.wrap) { names.append("CKF_WRAP") }
        if contains(.unwrap) { names.append("CKF_UNWRAP") }
        if contains(.sign) { names.append("CKF_SIGN") }
        if contains(.verify) { names.append("CKF_VERIFY") }
        return names
    }
}

/// A blank-padded, fixed-size PKCS#11 text field as a trimmed string.
func padded<T>(_ field: T) -> String {
    withUnsafeBytes(of: field) { raw in
        var bytes = Array(raw)
        if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }
        while let last = bytes.last, last == 0x20 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
