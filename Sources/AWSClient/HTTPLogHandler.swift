import Logging

/// The log handler AsyncHTTPClient gets: it can never log a body or a header.
///
/// AsyncHTTPClient logs every HTTP part it reads or writes at `trace` (`ahc-http-part`), which
/// prints the first bytes of each body — for KMS `GenerateDataKey` and `Decrypt`, part of the
/// plaintext data key — and the request head with its `Authorization` and
/// `X-Amz-Security-Token` headers. This handler has its own level, never more verbose than
/// `debug` (so those `trace` messages are never even formed), and forwards only the metadata keys
/// in ``allowedMetadata`` (ids, event loop, pool key, HTTP version, errors), whatever the level.
struct HTTPLogHandler: LogHandler {
    /// The AsyncHTTPClient metadata that cannot carry a body or a header.
    static let allowedMetadata: Set<String> = [
        "ahc-request-id", "ahc-connection-id", "ahc-el", "ahc-el-preference", "ahc-eventloop", "ahc-pool-key",
        "ahc-http-version", "ahc-max-streams", "ahc-error", "ahc-channel-writable",
    ]
    /// The most verbose level this handler lets through.
    static let mostVerbose = Logger.Level.debug

    private var base: any LogHandler
    private var ownMetadata: Logger.Metadata = [:]
    private var level: Logger.Level

    /// A logger labelled `<label>.http` whose messages go to `logger`'s handler, filtered.
    static func logger(_ logger: Logger) -> Logger {
        let base = logger.handler
        return Logger(label: logger.label + ".http") { _ in HTTPLogHandler(base: base) }
    }

    init(base: any LogHandler) {
        self.base = base
        self.level = max(base.logLevel, Self.mostVerbose)
    }

    var logLevel: Logger.Level {
        get { level }
        set { level = max(newValue, Self.mostVerbose) }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { nil }
        set {}  // a provider could add anything: not taken
    }

    var metadata: Logger.Metadata {
        get { ownMetadata }
        set { ownMetadata = newValue.filter { Self.allowedMetadata.contains($0.key) } }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { ownMetadata[key] }
        set { if Self.allowedMetadata.contains(key) { ownMetadata[key] = newValue } }
    }

    func log(event: LogEvent) {
        guard event.level >= level else { return }
        var filtered = ownMetadata
        for (key, value) in event.metadata ?? [:] where Self.allowedMetadata.contains(key) { filtered[key] = value }
        var forwarded = event
        forwarded.metadata = filtered
        forwarded.error = nil
        base.log(event: forwarded)
    }
}
