// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "InterruptIO",
    products: [
        .library(name: "InterruptIO", targets: ["InterruptIO"]),
        .library(name: "CInterruptIO", targets: ["CInterruptIO"]),
        .executable(name: "interruptio-demo", targets: ["interruptio-demo"]),
        .executable(name: "interruptio-echo-server", targets: ["interruptio-echo-server"]),
        .executable(name: "interruptio-run", targets: ["interruptio-run"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The executables' command lines only; the libraries do not use it.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Documentation only: swift package generate-documentation --target InterruptIO
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CInterruptIO"),
        .target(
            name: "InterruptIO",
            dependencies: [
                "CInterruptIO",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "interruptio-demo",
            dependencies: [
                "InterruptIO",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The example server's logic, a library so the tests can drive it.
        .target(
            name: "EchoServer",
            dependencies: ["InterruptIO", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "interruptio-echo-server",
            dependencies: [
                "EchoServer", "InterruptIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "interruptio-run",
            dependencies: [
                "InterruptIO",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "InterruptIOTests",
            dependencies: ["InterruptIO", "CInterruptIO", "EchoServer"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ],
    cLanguageStandard: .c11
)
