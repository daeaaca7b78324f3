// swift-tools-version:6.0
// Benchmarks for ObanMet, kept out of the main package graph (scripts/bench builds and runs them).
import Foundation
import PackageDescription

// A path dependency is identified by its folder's name, which is whatever the checkout is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "oban-met-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        .target(name: "CMallocStats"),
        .executableTarget(
            name: "MetBench",
            dependencies: [
                "CMallocStats",
                .product(name: "MetValues", package: root),
                .product(name: "MetStore", package: root),
                .product(name: "MetRecorder", package: root),
                .product(name: "MetWire", package: root),
                .product(name: "MetUV", package: root),
                .product(name: "MetMesh", package: root),
                .product(name: "MetPostgres", package: root),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
