// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-logstore",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LogStore", targets: ["LogStore"]),
        .library(name: "CLogStore", targets: ["CLogStore"]),
        .executable(name: "logstore", targets: ["logstore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // The hot path: CRC32C, frame and record codecs, segment files, the group-commit
        // writer and its two I/O backends (io_uring, pwritev+fdatasync).
        .target(
            name: "CLogStore",
            path: "CSources/CLogStore",
            cSettings: [
                .define("_GNU_SOURCE"),
                .unsafeFlags(["-std=c11", "-Wall", "-Wextra"]),
            ],
            linkerSettings: [.linkedLibrary("uring"), .linkedLibrary("zstd"), .linkedLibrary("pthread")]
        ),
        .target(
            name: "LogStore",
            dependencies: [
                "CLogStore",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "logstore",
            dependencies: [
                "LogStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "LogStoreTests",
            dependencies: [
                "LogStore",
                "CLogStore",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
