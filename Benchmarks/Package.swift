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
    ],
    targets: [
        .target(name: "CMallocStats"),
        .executableTarget(
            name: "MetBench",
            dependencies: [
                "CMallocStats",
                .product(name: "MetValues", package: root),
                .product(name: "MetStore", package: root),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
