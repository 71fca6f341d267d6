// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "InterruptIO",
    products: [
        .library(name: "InterruptIO", targets: ["InterruptIO"]),
        .library(name: "CInterruptIO", targets: ["CInterruptIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .target(
            name: "CInterruptIO",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "InterruptIO",
            dependencies: [
                "CInterruptIO",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "InterruptIOTests",
            dependencies: ["InterruptIO", "CInterruptIO"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ],
    cLanguageStandard: .c11
)
