// swift-tools-version:6.0
// ObanMet for Swift: a distributed, compacting time-series store for job-queue metrics.
// Layering (DESIGN §2): values + store (pure Swift) -> wire -> mesh (libuv) / postgres (libpq) -> node -> met.
import Foundation
import PackageDescription

let strict: [SwiftSetting] = [
    .enableExperimentalFeature("StrictConcurrency"),
]

let package = Package(
    name: "oban-met",
    platforms: [.macOS(.v15)],
    products: [
        // What a worker depends on: a node to embed, its recorder and typed queries (docs/embedding.md).
        .library(name: "ObanMet", targets: ["ObanMet"]),
        .executable(name: "met", targets: ["met"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // MARK: C libraries (the design's own choice), importable from exactly one wrapper module each.
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // MARK: Pure layers: no sockets, no database.
        .target(name: "MetValues", swiftSettings: strict),
        .target(name: "MetStore", dependencies: ["MetValues"], swiftSettings: strict),
        .target(
            name: "MetRecorder",
            dependencies: ["MetValues", "MetStore", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),

        // MARK: Wire codec: frames and messages of the mesh. Pure Swift.
        .target(name: "MetWire", dependencies: ["MetValues", "MetStore"], swiftSettings: strict),

        // MARK: C wrappers.
        .target(name: "MetUV", dependencies: ["CLibUV"], swiftSettings: strict),
        // MARK: The mesh: handshake, membership, broadcast (built on MetUV and MetWire).
        .target(
            name: "MetMesh",
            dependencies: ["MetUV", "MetWire", "MetValues", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(name: "MetPostgres", dependencies: ["CLibPQ"], swiftSettings: strict),

        // MARK: The node: collector (and, next, reporter, handoff, runtime).
        .target(
            name: "MetRuntime",
            dependencies: ["MetStore", "MetRecorder", "MetWire", "MetMesh", "MetUV", "MetPostgres", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        // MARK: The dashboard: the page as HTML and SVG from a plain data model. Pure Swift.
        .target(name: "MetDashboard", swiftSettings: strict),

        // MARK: The HTTP API of a node (DESIGN §7) and its dashboard, on Hummingbird.
        .target(
            name: "MetHTTP",
            dependencies: ["MetRuntime", "MetStore", "MetRecorder", "MetValues", "MetDashboard", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: strict
        ),

        // MARK: The embedding API: the one product a worker depends on (docs/embedding.md).
        .target(
            name: "ObanMet",
            dependencies: [
                "MetRuntime", "MetHTTP", "MetStore", "MetRecorder", "MetPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),

        // MARK: The `met` executable: a thin user of ObanMet.
        .executableTarget(
            name: "met",
            dependencies: [
                "ObanMet", "MetRuntime", "MetHTTP", "MetStore", "MetPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),

        // MARK: The example worker (README "Embedding"): what a Swift worker writes, using only ObanMet.
        .target(
            name: "ExampleWorker",
            dependencies: [
                "ObanMet",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/ExampleWorker",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "example-worker",
            dependencies: [
                "ExampleWorker", "ObanMet",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/example-worker",
            swiftSettings: strict
        ),

        // MARK: libFuzzer target for the network decoders (scripts/fuzz).
        .executableTarget(name: "MetFuzz", dependencies: ["MetWire", "MetMesh", "MetPostgres", "MetRuntime", "MetStore", "MetValues"], swiftSettings: strict),

        // MARK: Tests.
        .target(name: "MetTestSupport", path: "Tests/MetTestSupport", swiftSettings: strict),
        .testTarget(
            name: "MetValuesTests",
            dependencies: ["MetTestSupport", "MetValues", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetStoreTests",
            dependencies: ["MetTestSupport", "MetStore", "MetValues", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetRecorderTests",
            dependencies: ["MetTestSupport", "MetRecorder", "MetStore", "MetValues", .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetDashboardTests",
            dependencies: ["MetTestSupport", "MetDashboard", "MetHTTP", "MetRuntime", "MetStore", "MetValues", "MetRecorder",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetWireTests",
            dependencies: ["MetTestSupport", "MetWire", "MetStore", "MetValues", "MetRecorder"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetRuntimeTests",
            dependencies: ["MetTestSupport", "MetRuntime", "MetMesh", "MetUV", "MetRecorder", "MetStore", "MetValues", "MetWire", "MetPostgres",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Multi-process tests: real `met node` processes on loopback, driven through the HTTP API.
        .testTarget(
            name: "MetClusterTests",
            dependencies: ["MetTestSupport", "MetPostgres", "MetMesh", "MetWire", "met", "ObanMet", "ExampleWorker",
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetMeshTests",
            dependencies: ["MetTestSupport", "MetMesh", "MetWire"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetUVTests",
            dependencies: ["MetUV", "MetWire"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MetPostgresTests",
            dependencies: ["MetPostgres", "MetUV"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: Benchmarks (scripts/bench): only with MET_BENCHMARKS=1, so their peer library
// (hdrhistogram-swift) never enters the graph a user or CI builds. Being in this package, they
// can measure what is `package` to users.
if ProcessInfo.processInfo.environment["MET_BENCHMARKS"] == "1" {
    package.dependencies.append(.package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"))
    package.targets += [
        .target(name: "CMallocStats", path: "Benchmarks/Sources/CMallocStats"),
        .executableTarget(
            name: "MetBench",
            dependencies: [
                "CMallocStats", "MetValues", "MetStore", "MetRecorder", "MetWire", "MetUV", "MetMesh", "MetPostgres",
                "MetRuntime", "MetHTTP", "MetDashboard",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/Sources/MetBench",
            swiftSettings: strict
        ),
    ]
}
