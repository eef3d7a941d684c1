// swift-tools-version:6.1
// Benchmarks live in their own package so that the library never depends on
// ordo-one/benchmark (and its malloc interposer). See README.md.
import PackageDescription

let package = Package(
    name: "swift-logstore-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // `name:` makes the root package's products resolvable whatever the directory
        // of the checkout is called (a path dependency is otherwise named after it).
        .package(name: "swift-logstore", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CRC32C",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CLogStore", package: "swift-logstore"),
            ],
            path: "Benchmarks/CRC32C",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        )
    ]
)
