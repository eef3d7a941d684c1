// swift-tools-version:6.1
// Fuzz targets for swift-logstore (docs/TESTING.md, "Fuzzing"). A package of its own, so the
// main package's `swift build` and `make test` never build them: every target here links
// libFuzzer's main and is only built with `swift build --sanitize=fuzzer` (`make fuzz`).
import PackageDescription

// The harnesses call internal functions of the C core (scanner, manifest, zstd containers),
// declared in its private header ls_internal.h.
let coreSources = Context.packageDirectory + "/../CSources/CLogStore"

let package = Package(
    name: "swift-logstore-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "swift-logstore", path: "..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "CLogStore", package: "swift-logstore")],
            cSettings: [.define("_GNU_SOURCE"), .unsafeFlags(["-std=c11", "-Wall", "-Wextra", "-I", coreSources])]
        ),
        // One executable per target; `main` is libFuzzer's.
        .executableTarget(name: "FuzzFrame", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzRecord", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzScan", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzManifest", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzBlob", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzInspect", dependencies: ["FuzzSupport"]),
        .executableTarget(
            name: "FuzzRaft",
            dependencies: [.product(name: "LogStore", package: "swift-logstore"), .product(name: "CLogStore", package: "swift-logstore")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
