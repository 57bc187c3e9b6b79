internal import CPKCS11
import SecureCrypto

/// A PKCS#11 function returned something other than `CKR_OK`. Carries the return value, its
/// `CKR_` name and the function that returned it; never key material or PINs. Its ``code`` is the
/// return value: two errors are equal when they carry the same `CK_RV`, whichever function returned it.
public struct PKCS11Error: CodedError {
    /// A Cryptoki return value (`CK_RV`), named by its `CKR_` constant. The factories below are the
    /// values callers match on; ``init(rv:)`` makes any other (vendor-defined ones included).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw `CK_RV`.
        public let rv: UInt
        /// The code of return value `rv`.
        public init(rv: UInt) { self.rv = rv }

        /// `CKR_GENERAL_ERROR`: SoftHSM's answer to a bad tag, a wrapped key under another KEK, or a
        /// token file being rewritten.
        public static let generalError = Code(rv: UInt(CKR_GENERAL_ERROR))
        /// `CKR_PIN_INCORRECT`: the PIN was refused.
        public static let pinIncorrect = Code(rv: UInt(CKR_PIN_INCORRECT))
        /// `CKR_USER_NOT_LOGGED_IN`: the login is gone (a re-initialisation behind our back).
        public static let userNotLoggedIn = Code(rv: UInt(CKR_USER_NOT_LOGGED_IN))
        /// `CKR_SESSION_HANDLE_INVALID`: the session is gone.
        public static let sessionHandleInvalid = Code(rv: UInt(CKR_SESSION_HANDLE_INVALID))
        /// `CKR_KEY_HANDLE_INVALID`: the key handle is stale.
        public static let keyHandleInvalid = Code(rv: UInt(CKR_KEY_HANDLE_INVALID))
        /// `CKR_KEY_UNEXTRACTABLE`: the key may not leave the token.
        public static let keyUnextractable = Code(rv: UInt(CKR_KEY_UNEXTRACTABLE))
        /// `CKR_KEY_NOT_WRAPPABLE`: the key may not be wrapped.
        public static let keyNotWrappable = Code(rv: UInt(CKR_KEY_NOT_WRAPPABLE))
        /// `CKR_MECHANISM_INVALID`: the token does not offer the mechanism.
        public static let mechanismInvalid = Code(rv: UInt(CKR_MECHANISM_INVALID))
        /// `CKR_ATTRIBUTE_VALUE_INVALID`: an attribute had an unusable value.
        public static let attributeValueInvalid = Code(rv: UInt(CKR_ATTRIBUTE_VALUE_INVALID))
        /// `CKR_CRYPTOKI_NOT_INITIALIZED`: the module was finalised.
        public static let cryptokiNotInitialized = Code(rv: UInt(CKR_CRYPTOKI_NOT_INITIALIZED))

        /// The `CKR_` name (or `CKR_VENDOR_DEFINED+0x…`/`unknown CK_RV 0x…`).
        public var description: String { PKCS11Error.name(of: rv) }
    }

    /// The return value, as a code.
    public let code: Code
    /// The Cryptoki function that failed, for example `C_UnwrapKey`.
    public let function: String
    /// The error this one was made from, if any (a Cryptoki call has none).
    public let underlying: (any Error & Sendable)?

    /// The raw `CK_RV`.
    public var rv: UInt { code.rv }

    /// `function` returned `rv`.
    public init(_ function: String, _ rv: UInt) {
        self.function = function
        self.code = Code(rv: rv)
        self.underlying = nil
    }

    /// What failed: the function and its return value.
    public var reason: String { description }

    /// The `CKR_` name of ``rv`` (or `CKR_VENDOR_DEFINED+0x…`/`unknown CK_RV 0x…`).
    public var name: String { PKCS11Error.name(of: rv) }

    public var description: String { "\(function) returned \(name) (0x\(String(rv, radix: 16)))" }

    /// Errors after which the module's sessions are gone: the layer re-initialises, logs in again,
    /// finds its keys by label and retries an idempotent operation once.
    public var meansConnectionLost: Bool {
        PKCS11Error.connectionLost.contains(rv)
    }

    /// Errors that say the data, wrapped key or tag did not verify. SoftHSM reports a bad GCM tag or
    /// a wrapped key under another KEK as `CKR_GENERAL_ERROR` on the unwrap/decrypt path.
    public var meansIntegrityFailure: Bool {
        PKCS11Error.integrity.contains(rv)
    }

    /// `C_WrapKey` refused because the key may not leave the token: `CKR_KEY_UNEXTRACTABLE` or
    /// `CKR_KEY_NOT_WRAPPABLE`. Only these prove a token enforces a key's protection; other refusals
    /// (`CKR_MECHANISM_INVALID`, …) say nothing about it.
    public var meansKeyCannotBeWrappedOut: Bool {
        rv == UInt(CKR_KEY_UNEXTRACTABLE) || rv == UInt(CKR_KEY_NOT_WRAPPABLE)
    }

    /// The PIN was refused, or the token will not take one.
    public var meansLoginRefused: Bool {
        [UInt(CKR_PIN_INCORRECT), UInt(CKR_PIN_INVALID), UInt(CKR_PIN_LEN_RANGE), UInt(CKR_PIN_LOCKED),
         UInt(CKR_PIN_EXPIRED), UInt(CKR_USER_PIN_NOT_INITIALIZED)].contains(rv)
    }

    /// Errors that connecting (slot list, token info, opening a session, logging in) retries with
    /// backoff: SoftHSM answers `CKR_GENERAL_ERROR` or loses the token for a moment while another
    /// process rewrites the token file (it does so on every login). A refused PIN is not among them.
    public var meansTransientConnectFailure: Bool {
        PKCS11Error.transientConnect.contains(rv)
    }

    static let transientConnect: Set<UInt> = [
        UInt(CKR_GENERAL_ERROR), UInt(CKR_FUNCTION_FAILED), UInt(CKR_DEVICE_ERROR), UInt(CKR_DEVICE_MEMORY),
        UInt(CKR_TOKEN_NOT_PRESENT), UInt(CKR_TOKEN_NOT_RECOGNIZED), UInt(CKR_SESSION_COUNT),
        // Through p11-kit-proxy, C_Login on a SoftHSM token being rewritten answers this.
        UInt(CKR_USER_PIN_NOT_INITIALIZED),
    ]

    static let connectionLost: Set<UInt> = [
        UInt(CKR_SESSION_HANDLE_INVALID), UInt(CKR_SESSION_CLOSED), UInt(CKR_DEVICE_REMOVED),
        UInt(CKR_TOKEN_NOT_PRESENT), UInt(CKR_DEVICE_ERROR), UInt(CKR_CRYPTOKI_NOT_INITIALIZED),
        // After a re-initialisation behind our back the login is gone too: same fix.
        UInt(CKR_USER_NOT_LOGGED_IN), UInt(CKR_TOKEN_NOT_RECOGNIZED),
    ]

    /// A key handle is no longer valid (the key was destroyed, perhaps by another process, or the
    /// module was re-initialised): forget cached handles, find keys by label again, retry once.
    public var meansStaleKeyHandle: Bool {
        PKCS11Error.staleKeyHandle.contains(rv)
    }

    static let staleKeyHandle: Set<UInt> = [
        UInt(CKR_KEY_HANDLE_INVALID), UInt(CKR_OBJECT_HANDLE_INVALID), UInt(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
        UInt(CKR_WRAPPING_KEY_HANDLE_INVALID),
    ]

    static let integrity: Set<UInt> = [
        UInt(CKR_GENERAL_ERROR), UInt(CKR_ENCRYPTED_DATA_INVALID), UInt(CKR_ENCRYPTED_DATA_LEN_RANGE),
        UInt(CKR_WRAPPED_KEY_INVALID), UInt(CKR_WRAPPED_KEY_LEN_RANGE), 0x42 /* CKR_AEAD_DECRYPT_FAILED (v3.0) */,
    ]

    /// The `CKR_` name of a return value.
    public static func name(of rv: UInt) -> String {
        if let name = names[rv] { return name }
        if rv >= vendorDefined { return "CKR_VENDOR_DEFINED+0x\(String(rv - vendorDefined, radix: 16))" }
        return "unknown CK_RV 0x\(String(rv, radix: 16))"
    }

    static let vendorDefined: UInt = 0x8000_0000

    // Values from PKCS#11 v3.0 (pkcs11t.h), as p11-kit's pkcs11.h defines them.
    static let names: [UInt: String] = [
        0x0: "CKR_OK", 0x1: "CKR_CANCEL", 0x2: "CKR_HOST_MEMORY", 0x3: "CKR_SLOT_ID_INVALID",
        0x5: "CKR_GENERAL_ERROR", 0x6: "CKR_FUNCTION_FAILED", 0x7: "CKR_ARGUMENTS_BAD", 0x8: "CKR_NO_EVENT",
        0x9: "CKR_NEED_TO_CREATE_THREADS", 0xA: "CKR_CANT_LOCK", 0x10: "CKR_ATTRIBUTE_READ_ONLY",
        0x11: "CKR_ATTRIBUTE_SENSITIVE", 0x12: "CKR_ATTRIBUTE_TYPE_INVALID", 0x13: "CKR_ATTRIBUTE_VALUE_INVALID",
        0x1B: "CKR_ACTION_PROHIBITED", 0x20: "CKR_DATA_INVALID", 0x21: "CKR_DATA_LEN_RANGE",
        0x30: "CKR_DEVICE_ERROR", 0x31: "CKR_DEVICE_MEMORY", 0x32: "CKR_DEVICE_REMOVED",
        0x40: "CKR_ENCRYPTED_DATA_INVALID", 0x41: "CKR_ENCRYPTED_DATA_LEN_RANGE", 0x42: "CKR_AEAD_DECRYPT_FAILED",
        0x50: "CKR_FUNCTION_CANCELED", 0x51: "CKR_FUNCTION_NOT_PARALLEL", 0x54: "CKR_FUNCTION_NOT_SUPPORTED",
        0x60: "CKR_KEY_HANDLE_INVALID", 0x62: "CKR_KEY_SIZE_RANGE", 0x63: "CKR_KEY_TYPE_INCONSISTENT",
        0x64: "CKR_KEY_NOT_NEEDED", 0x65: "CKR_KEY_CHANGED", 0x66: "CKR_KEY_NEEDED",
        0x67: "CKR_KEY_INDIGESTIBLE", 0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED", 0x69: "CKR_KEY_NOT_WRAPPABLE",
        0x6A: "CKR_KEY_UNEXTRACTABLE", 0x70: "CKR_MECHANISM_INVALID", 0x71: "CKR_MECHANISM_PARAM_INVALID",
        0x82: "CKR_OBJECT_HANDLE_INVALID", 0x90: "CKR_OPERATION_ACTIVE", 0x91: "CKR_OPERATION_NOT_INITIALIZED",
        0xA0: "CKR_PIN_INCORRECT", 0xA1: "CKR_PIN_INVALID", 0xA2: "CKR_PIN_LEN_RANGE", 0xA3: "CKR_PIN_EXPIRED",
        0xA4: "CKR_PIN_LOCKED", 0xB0: "CKR_SESSION_CLOSED", 0xB1: "CKR_SESSION_COUNT",
        0xB3: "CKR_SESSION_HANDLE_INVALID", 0xB4: "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        0xB5: "CKR_SESSION_READ_ONLY", 0xB6: "CKR_SESSION_EXISTS", 0xB7: "CKR_SESSION_READ_ONLY_EXISTS",
        0xB8: "CKR_SESSION_READ_WRITE_SO_EXISTS", 0xC0: "CKR_SIGNATURE_INVALID", 0xC1: "CKR_SIGNATURE_LEN_RANGE",
        0xD0: "CKR_TEMPLATE_INCOMPLETE", 0xD1: "CKR_TEMPLATE_INCONSISTENT", 0xE0: "CKR_TOKEN_NOT_PRESENT",
        0xE1: "CKR_TOKEN_NOT_RECOGNIZED", 0xE2: "CKR_TOKEN_WRITE_PROTECTED",
        0xF0: "CKR_UNWRAPPING_KEY_HANDLE_INVALID", 0xF1: "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        0xF2: "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT", 0x100: "CKR_USER_ALREADY_LOGGED_IN",
        0x101: "CKR_USER_NOT_LOGGED_IN", 0x102: "CKR_USER_PIN_NOT_INITIALIZED", 0x103: "CKR_USER_TYPE_INVALID",
        0x104: "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", 0x105: "CKR_USER_TOO_MANY_TYPES",
        0x110: "CKR_WRAPPED_KEY_INVALID", 0x112: "CKR_WRAPPED_KEY_LEN_RANGE", 0x113: "CKR_WRAPPING_KEY_HANDLE_INVALID",
        0x114: "CKR_WRAPPING_KEY_SIZE_RANGE", 0x115: "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        0x120: "CKR_RANDOM_SEED_NOT_SUPPORTED", 0x121: "CKR_RANDOM_NO_RNG", 0x130: "CKR_DOMAIN_PARAMS_INVALID",
        0x150: "CKR_BUFFER_TOO_SMALL", 0x160: "CKR_SAVED_STATE_INVALID", 0x170: "CKR_INFORMATION_SENSITIVE",
        0x180: "CKR_STATE_UNSAVEABLE", 0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
        0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED", 0x1A0: "CKR_MUTEX_BAD", 0x1A1: "CKR_MUTEX_NOT_LOCKED",
        0x200: "CKR_FUNCTION_REJECTED",
    ]
}

/// Loading a module or choosing a token went wrong before any key operation.
public enum PKCS11SetupError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `dlopen` failed: the file is missing or is not a loadable library.
    case moduleNotLoadable(path: String, reason: String)
    /// The library has no `C_GetFunctionList`: it is not a PKCS#11 module.
    case notAPKCS11Module(path: String)
    /// The library is already loaded and initialised in this process (through `loadedAs`) with
    /// another initialisation string; Cryptoki state is per process, so it cannot be initialised twice.
    case initialisedDifferently(path: String, loadedAs: String)
    /// No token with this label or serial; lists the labels that are present.
    case tokenNotFound(selector: String, present: [String])
    /// More than one token matches the selector.
    case tokenAmbiguous(selector: TokenSelector, tokens: [AmbiguousToken])
    /// The token requires a login (`CKF_LOGIN_REQUIRED`) and no PIN was given.
    case pinRequired(token: String)
    /// More than one secret key carries this label.
    case duplicateKey(label: String, count: Int)
    /// Connecting kept failing with errors that are usually transient (another process rewriting the
    /// token): given up after `attempts` tries over `milliseconds`; `last` is the final answer.
    case stillFailing(what: String, attempts: Int, milliseconds: Int, last: String)

    public var description: String {
        switch self {
        case .moduleNotLoadable(let path, let reason):
            return "cannot load PKCS#11 module \(path): \(reason)"
        case .notAPKCS11Module(let path):
            return "\(path) has no C_GetFunctionList; it is not a PKCS#11 module"
        case .initialisedDifferently(let path, let loadedAs):
            let same = path == loadedAs ? "" : " (as \(loadedAs), the same library)"
            return "PKCS#11 module \(path) is already initialised in this process\(same) with other initialisation arguments "
                + "(hsm.initArgs); a module is initialised once per process, so vaults that share a module in one process "
                + "must use the same initArgs: use one initArgs, or open the other vault from another process"
        case .tokenNotFound(let selector, let present):
            let list = present.isEmpty ? "no initialised tokens" : "tokens present: " + present.map { "'\($0)'" }.joined(separator: ", ")
            return "no token \(selector) in any slot (\(list))"
        case .tokenAmbiguous(let selector, let tokens):
            let list = tokens.map { "slot \($0.slot): '\($0.label)' serial '\($0.serial)'" }.joined(separator: "; ")
            let labels = Set(tokens.map(\.label)), serials = Set(tokens.map(\.serial))
            let advice: String
            switch selector {
            case .label where serials.count == tokens.count:
                advice = "choose one by serial (hsm.tokenSerial / --token-serial)"
            case .serial where labels.count == tokens.count:
                advice = "they share the serial number; choose one by label (hsm.tokenLabel / --token) instead"
            case .label, .serial:
                advice = "give each token its own label (serials alone do not tell them apart), then choose by label and serial"
            case .labelAndSerial:
                advice = "label and serial together are not unique; give each token its own label"
            }
            return "more than one token matches \(selector) (\(list)); \(advice)"
        case .pinRequired(let token):
            return "token '\(token)' requires a login (CKF_LOGIN_REQUIRED) and no PIN was given"
        case .duplicateKey(let label, let count):
            return "more than one secret key (\(count) found) on the token is labelled '\(label)'"
        case .stillFailing(let what, let attempts, let milliseconds, let last):
            return "could not \(what) after \(attempts) attempts over \(milliseconds) ms (each failure was of a kind "
                + "that usually passes, such as another process rewriting the token; is the token busy or gone?): \(last)"
        }
    }
}
