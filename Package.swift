// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "pellet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pelletd", targets: ["pelletd"]),
        .executable(name: "pelletctl", targets: ["pelletctl"]),
        .library(name: "PelletClient", targets: ["PelletClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // C libraries, each behind its own target (DESIGN.md section 1).
        .target(
            name: "CPelletProto",
            exclude: [],
            cSettings: [.headerSearchPath("include")],
            linkerSettings: [.linkedLibrary("protobuf-c")]
        ),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),

        .target(
            name: "PelletWire",
            dependencies: [
                "CPelletProto",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "PelletStore",
            dependencies: [
                "CLMDB",
                "PelletWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PelletRouter",
            dependencies: ["PelletWire"],
            resources: [.copy("Resources/catalogue.json")]
        ),
        .target(
            name: "PelletProviders",
            dependencies: [
                "CCurl",
                "PelletWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PelletServer",
            dependencies: [
                "PelletWire",
                "PelletStore",
                "PelletRouter",
                "PelletProviders",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Cluster mode: PostgreSQL as the shared truth behind each node's LMDB (DESIGN.md, cluster mode).
        .target(
            name: "PelletCluster",
            dependencies: [
                "PelletWire",
                "PelletStore",
                "PelletServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PelletClient",
            dependencies: [
                "PelletWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "PelletTesting",
            dependencies: [
                "PelletServer",
                "PelletClient",
                "PelletStore",
                "PelletWire",
                "PelletRouter",
                "PelletProviders",
                "PelletMockProvider",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "pelletd",
            dependencies: [
                "PelletServer",
                "PelletCluster",
                "PelletStore",
                "PelletRouter",
                "PelletWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "pelletctl",
            dependencies: [
                "PelletClient",
                "PelletWire",
                "PelletRouter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // pellet-load rpc's engine, a library so that its scheduler, histograms and runs are testable.
        .target(
            name: "PelletLoadKit",
            dependencies: [
                "PelletClient",
                "PelletWire",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Interposes malloc to count allocations per op; only pellet-load links it.
        .target(name: "CPelletLoadAllocations"),
        .executableTarget(
            name: "pellet-load",
            dependencies: [
                "CPelletLoadAllocations",
                "PelletLoadKit",
                "PelletWire",
                "PelletStore",
                "PelletProviders",
                "PelletClient",
                "PelletServer",
                "PelletRouter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "PelletMockProvider",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "pellet-mock-provider",
            dependencies: [
                "PelletMockProvider",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "PelletWireTests", dependencies: ["PelletWire", "CPelletProto"]),
        .testTarget(
            name: "PelletServerTests",
            dependencies: [
                "PelletServer", "PelletClient", "PelletTesting", "PelletWire",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PelletRouterTests",
            dependencies: ["PelletRouter", "PelletWire"],
            resources: [.copy("Resources")]
        ),
        .testTarget(
            name: "PelletProvidersTests",
            dependencies: [
                "PelletProviders",
                "PelletTesting",
                "PelletWire",
                "pellet-mock-provider",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "PelletStoreTests", dependencies: ["PelletStore", "PelletTesting", "PelletWire"]),
        .testTarget(
            name: "PelletLoadTests",
            dependencies: [
                "PelletLoadKit",
                "PelletTesting",
                "PelletServer",
                "PelletClient",
                "PelletWire",
                "PelletMockProvider",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Cluster mode's parts against a real PostgreSQL (PelletTesting's PostgresTestServer).
        .testTarget(
            name: "PelletClusterTests",
            dependencies: [
                "PelletCluster", "PelletStore", "PelletTesting", "PelletWire",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Runs the real pelletctl and pelletd binaries, so it depends on them to get them built.
        .testTarget(
            name: "PelletCtlTests",
            dependencies: ["PelletTesting", "PelletClient", "PelletServer", "PelletWire", "pelletctl", "pelletd"]
        ),
    ]
)

// One settings loop for every Swift target: Swift 6 language mode (strict concurrency) and
// explicit `any` for existentials.
for target in package.targets where target.type != .system {
    guard !target.name.hasPrefix("C") else { continue }
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.swiftLanguageMode(.v6))
    target.swiftSettings = settings
}
