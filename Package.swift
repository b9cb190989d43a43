// swift-tools-version: 6.2
import PackageDescription

/// Settings every target of ours shares: Swift 6 mode (from the tools version), stricter existentials,
/// import visibility, and warnings treated as errors.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "prefactor-swift",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PrefactorWire", targets: ["PrefactorWire"]),
        .library(name: "PrefactorHTTP", targets: ["PrefactorHTTP"]),
        .library(name: "PrefactorCore", targets: ["PrefactorCore"]),
        .library(name: "PrefactorTracing", targets: ["PrefactorTracing"]),
        .library(name: "PrefactorMetrics", targets: ["PrefactorMetrics"]),
        .library(name: "PrefactorServer", targets: ["PrefactorServer"]),
        .library(name: "PrefactorDemo", targets: ["PrefactorDemo"]),
        .library(name: "PrefactorTUI", targets: ["PrefactorTUI"]),
        .library(name: "PrefactorTUICurses", targets: ["PrefactorTUICurses"]),
        .library(name: "PrefactorServerTesting", targets: ["PrefactorServerTesting"]),
        .executable(name: "prefactor", targets: ["prefactor"]),
        .executable(name: "prefactor-server-benchmark", targets: ["ServerBenchmark"]),
        .executable(name: "prefactor-core-benchmark", targets: ["CoreBenchmark"]),
        .executable(name: "prefactor-tui-benchmark", targets: ["TUIBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context", from: "1.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(name: "PrefactorWire"),
        .target(
            name: "PrefactorHTTP",
            dependencies: [
                "PrefactorWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "PrefactorCore",
            dependencies: [
                "PrefactorHTTP",
                "PrefactorWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "PrefactorTracing",
            dependencies: [
                "PrefactorCore",
                "PrefactorWire",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ]
        ),
        .target(
            name: "PrefactorMetrics",
            dependencies: [
                "PrefactorCore",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "PrefactorDemo", dependencies: ["PrefactorCore", "PrefactorWire"]),
        .target(
            name: "PrefactorTUI",
            dependencies: [
                "PrefactorCore", "PrefactorHTTP", "PrefactorWire", .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .systemLibrary(name: "CNCursesW", providers: [.apt(["libncursesw5-dev"])]),
        .target(name: "PrefactorTUICurses", dependencies: ["PrefactorTUI", "CNCursesW"]),
        .target(
            name: "PrefactorServer",
            dependencies: [
                "PrefactorWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ]
        ),
        .target(
            name: "PrefactorServerTesting",
            dependencies: [
                "PrefactorServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PrefactorCommands",
            dependencies: [
                "PrefactorHTTP",
                "PrefactorServer",
                "PrefactorCore",
                "PrefactorDemo",
                "PrefactorTUI",
                "PrefactorTUICurses",
                "PrefactorWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "prefactor", dependencies: ["PrefactorCommands"]),
        .executableTarget(
            name: "ServerBenchmark",
            dependencies: [
                "PrefactorHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "PrefactorServer",
                "PrefactorServerTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/ServerBenchmark"
        ),
        .executableTarget(
            name: "CoreBenchmark",
            dependencies: [
                "PrefactorCore",
                "PrefactorServer",
                "PrefactorServerTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/CoreBenchmark"
        ),
        .executableTarget(
            name: "TUIBenchmark",
            dependencies: [
                "PrefactorTUI", "PrefactorCore", "PrefactorHTTP", "PrefactorWire", "PrefactorServer", "PrefactorServerTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/TUIBenchmark"
        ),
        .testTarget(name: "PrefactorWireTests", dependencies: ["PrefactorWire"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "PrefactorHTTPTests",
            dependencies: [
                "PrefactorHTTP", "PrefactorWire", "PrefactorServer", "PrefactorServerTesting",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PrefactorServerTests",
            dependencies: [
                "PrefactorServer", "PrefactorServerTesting", "PrefactorWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PrefactorCoreTests",
            dependencies: [
                "PrefactorCore", "PrefactorServerTesting", "PrefactorServer", "PrefactorHTTP", "PrefactorWire",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "PrefactorTracingTests",
            dependencies: [
                "PrefactorTracing", "PrefactorCore", "PrefactorHTTP", "PrefactorWire", "PrefactorServerTesting",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PrefactorMetricsTests",
            dependencies: [
                "PrefactorMetrics", "PrefactorCore", "PrefactorHTTP", "PrefactorWire", "PrefactorServer",
                "PrefactorServerTesting",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "PrefactorTUITests",
            dependencies: [
                "PrefactorTUI", "PrefactorDemo", "PrefactorCore", "PrefactorHTTP", "PrefactorWire", "PrefactorServer",
                "PrefactorServerTesting", .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Golden")]
        ),
        .testTarget(
            name: "PrefactorCommandsTests",
            dependencies: [
                "PrefactorCommands", "prefactor", "PrefactorCore", "PrefactorHTTP", "PrefactorServer", "PrefactorServerTesting",
                "PrefactorTUI", "PrefactorWire",
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + strictSettings
}
