import Foundation

/// Where SwiftPM put the `pelletd` and `pelletctl` executables: the directory that holds the test
/// bundle, whatever `--scratch-path`, configuration or triple the build used.
enum Binaries {
    static var pelletd: URL { get throws { try directory.get().appendingPathComponent("pelletd") } }
    static var pelletctl: URL { get throws { try directory.get().appendingPathComponent("pelletctl") } }
    /// Not a package dependency of the tests (its malloc counter would replace the test process's
    /// allocator); `swift build --build-tests` builds it with everything else.
    static var pelletLoad: URL { get throws { try directory.get().appendingPathComponent("pellet-load") } }

    /// `PELLET_BIN_DIR` overrides the search (to test installed binaries).
    private static let directory: Result<URL, SubprocessError> = {
        var candidates: [URL] = []
        if let override = ProcessInfo.processInfo.environment["PELLET_BIN_DIR"], !override.isEmpty {
            candidates.append(URL(fileURLWithPath: override))
        }
        // macOS: a `.xctest` bundle directory inside the products directory.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        // Linux: the `.xctest` file is itself the executable running the tests.
        let bundleURL = Bundle(for: BundleToken.self).bundleURL
        candidates.append(bundleURL)
        candidates.append(bundleURL.deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())

        let found = candidates.first { directory in
            ["pelletd", "pelletctl"].allSatisfy {
                FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path)
            }
        }
        guard let found else {
            return .failure(
                SubprocessError(
                    description: "pelletd and pelletctl are not next to the test bundle; looked in "
                        + "\(candidates.map(\.path)). Build with `swift build --build-tests`, or set PELLET_BIN_DIR."
                )
            )
        }
        return .success(found)
    }()

    private final class BundleToken {}
}
