// swift-tools-version: 6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]
// The targets that link the gRPC/NIO stack and Foundation together (the server, the CLI, their tests).
// With MemberImportVisibility, Glibc's `struct stat` is attributed to whichever clang module declared it
// first in the build, which in a clean build (CI) or a release build is CoreFoundation, an implementation
// detail of Foundation that cannot be imported directly: `info.st_mode` then fails to compile although
// the incremental debug build passed. These targets keep ExistentialAny only.
let stackSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "strongroom",
    // Linux only (no `platforms` entry): the code calls Glibc-only API (`st_mtim`,
    // `pthread_rwlockattr_setkind_np`, `prctl`), so a macOS build was never real.
    products: [
        .library(name: "Strongroom", targets: ["Strongroom"]),
        .library(name: "StrongroomCore", targets: ["StrongroomCore"]),
        .library(name: "StrongroomLocal", targets: ["StrongroomLocal"]),
        .library(name: "StrongroomCloud", targets: ["StrongroomCloud"]),
        .library(name: "StrongroomHSM", targets: ["StrongroomHSM"]),
        .library(name: "StrongroomConformance", targets: ["StrongroomConformance"]),
        .library(name: "SecureCrypto", targets: ["SecureCrypto"]),
        .library(name: "PKCS11", targets: ["PKCS11"]),
        .library(name: "AWSClient", targets: ["AWSClient"]),
        .library(name: "FROST", targets: ["FROST"]),
        .library(name: "StrongroomMetrics", targets: ["StrongroomMetrics"]),
        .library(name: "StrongroomProto", targets: ["StrongroomProto"]),
        .library(name: "StrongroomServer", targets: ["StrongroomServer"]),
        .library(name: "StrongroomClient", targets: ["StrongroomClient"]),
        .executable(name: "strongroom", targets: ["StrongroomCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries: one system library target each (module.modulemap + shim.h only).
        .systemLibrary(
            name: "CPKCS11", pkgConfig: "p11-kit-1",
            providers: [.apt(["libp11-kit-dev"]), .brew(["p11-kit"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),
        .systemLibrary(
            name: "CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]),
        .systemLibrary(
            name: "CSecp256k1", pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"]), .brew(["secp256k1"])]),

        .target(
            name: "SecureCrypto",
            dependencies: ["COpenSSL", "CSodium"],
            swiftSettings: strictSettings),
        .target(
            name: "PKCS11",
            dependencies: [
                "CPKCS11", "SecureCrypto", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "AWSClient",
            dependencies: [
                "SecureCrypto", "CSodium",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        // The store: ShareStore, the envelope, the Keyring/BlobStore seam, configuration, the tier
        // registry. It knows no tier; each tier is a module of its own on its public API only.
        .target(
            name: "StrongroomCore",
            dependencies: [
                "SecureCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        // Tier 1: files under a root seed.
        .target(
            name: "StrongroomLocal",
            dependencies: [
                "StrongroomCore", "SecureCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings),
        // Tier 2: S3 + KMS.
        .target(
            name: "StrongroomCloud",
            dependencies: [
                "StrongroomCore", "SecureCrypto", "AWSClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),
        // Tier 3: PKCS#11; its blobs in a directory (StrongroomLocal's store) or S3 (StrongroomCloud's).
        .target(
            name: "StrongroomHSM",
            dependencies: [
                "StrongroomCore", "StrongroomLocal", "StrongroomCloud", "SecureCrypto", "PKCS11",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        // The three tiers together, and the registry that names them.
        .target(
            name: "Strongroom",
            dependencies: ["StrongroomCore", "StrongroomLocal", "StrongroomCloud", "StrongroomHSM"],
            swiftSettings: strictSettings),
        // The Prometheus backend for swift-metrics, for a process that hosts a store (the CLI's
        // `bench --metrics`, the server): the only module that knows Prometheus.
        .target(
            name: "StrongroomMetrics",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings),
        // The tier conformance suite (docs/conformance.md): public API of StrongroomCore only.
        .target(
            name: "StrongroomConformance",
            dependencies: ["StrongroomCore", "SecureCrypto"],
            swiftSettings: strictSettings),
        .target(
            name: "FROST",
            dependencies: [
                "SecureCrypto", "StrongroomCore", "CSodium", "CSecp256k1",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),
        // The service's messages and stubs, generated from proto/strongroom/v1/strongroom.proto by
        // scripts/proto/generate (committed, so a build needs no protoc plugin), and the mapping of
        // StrongroomError to and from a gRPC status that server and client share.
        .target(
            name: "StrongroomProto",
            dependencies: [
                "StrongroomCore",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings),
        // `strongroom serve`: the gRPC service over one vault, its transports (Unix socket with the
        // peer's uid, TCP with mutual TLS), the access policy, sealed mode and the metrics endpoint.
        .target(
            name: "StrongroomServer",
            dependencies: [
                "Strongroom", "StrongroomCore", "StrongroomLocal", "StrongroomProto", "StrongroomMetrics", "SecureCrypto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: stackSettings),
        // The Swift client of `strongroom serve` (the CLI's `--server`).
        .target(
            name: "StrongroomClient",
            dependencies: [
                "StrongroomCore", "StrongroomProto", "SecureCrypto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "StrongroomCLI",
            dependencies: [
                "Strongroom", "AWSClient", "FROST", "CSodium",
                "SecureCrypto", "StrongroomMetrics", "StrongroomServer", "StrongroomClient", "StrongroomProto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: stackSettings),

        .testTarget(
            name: "SecureCryptoTests",
            dependencies: ["SecureCrypto"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "StrongroomTests",
            dependencies: [
                "Strongroom", "StrongroomCore", "StrongroomLocal", "StrongroomCloud", "StrongroomHSM", "StrongroomConformance",
                "SecureCrypto", "PKCS11", "AWSClient", "StrongroomMetrics",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "AWSClientTests",
            dependencies: ["AWSClient", "SecureCrypto", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings),
        .testTarget(
            name: "FROSTTests",
            dependencies: ["FROST", "Strongroom", "StrongroomCore", "SecureCrypto", "CSodium", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings),
        .testTarget(
            name: "StrongroomCLITests",
            dependencies: ["StrongroomCLI", "StrongroomCore", "SecureCrypto"],
            swiftSettings: stackSettings),
        // The server through real sockets: the binary's `serve`, the Swift client, the Python client.
        .testTarget(
            name: "StrongroomServerTests",
            dependencies: [
                "StrongroomServer", "StrongroomClient", "StrongroomProto", "StrongroomCore", "SecureCrypto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: stackSettings),
        .testTarget(
            name: "SystemLibraryTests",
            dependencies: ["CPKCS11", "CSecp256k1", "COpenSSL", "CSodium"],
            swiftSettings: strictSettings),
    ]
)
