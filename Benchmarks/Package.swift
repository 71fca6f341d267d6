// swift-tools-version: 6.1
// Benchmarks live in their own package so that users of InterruptIO pull
// none of these dependencies. Run from this folder:
//   swift package benchmark                  (ordo-one/benchmark suites)
//   swift run -c release interruptio-compare (side-by-side comparison)
//   python3 Server/run.py [--quick]          (echo-server benchmark, issue 15)
import PackageDescription

let package = Package(
    name: "InterruptIOBenchmarks",
    dependencies: [
        .package(name: "InterruptIO", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The async round trip is compared with NIOThreadPool's.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "InterruptIOBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "InterruptIO", package: "InterruptIO"),
                .product(name: "CInterruptIO", package: "InterruptIO"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Benchmarks/InterruptIOBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Debian's liburing-dev (apt-get install liburing-dev).
        .systemLibrary(
            name: "CLiburing",
            path: "Sources/CLiburing",
            pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]
        ),
        .target(
            name: "CCompare",
            dependencies: ["CLiburing", .product(name: "CInterruptIO", package: "InterruptIO")],
            path: "Sources/CCompare",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .executableTarget(
            name: "interruptio-compare",
            dependencies: [
                "CCompare",
                .product(name: "InterruptIO", package: "InterruptIO"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/interruptio-compare"
        ),
        .executableTarget(
            name: "interruptio-async-compare",
            dependencies: [
                .product(name: "InterruptIO", package: "InterruptIO"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/interruptio-async-compare"
        ),
        // The two Swift echo servers of the server benchmark (Server/run.py
        // builds them with the C and Go ones and runs them side by side).
        .target(name: "EchoBenchSupport", path: "Sources/EchoBenchSupport"),
        .executableTarget(
            name: "echo-bench-interruptio",
            dependencies: [
                "EchoBenchSupport",
                .product(name: "InterruptIO", package: "InterruptIO"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/echo-bench-interruptio"
        ),
        .executableTarget(
            name: "echo-bench-nio",
            dependencies: [
                "EchoBenchSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/echo-bench-nio"
        ),
    ]
)
