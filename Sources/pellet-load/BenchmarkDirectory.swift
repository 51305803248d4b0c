import Foundation

/// Where the benchmark stores live: `--data-dir` (kept), or a fresh temporary directory that is
/// removed at the end.
final class BenchmarkDirectory: Sendable {
    let path: String
    let isTemporary: Bool

    init(path: String?) throws {
        if let path {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            self.path = path
            self.isTemporary = false
        } else {
            let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("pellet-load-XXXXXX")
            var bytes = Array(template.utf8CString)
            guard let created = mkdtemp(&bytes) else {
                throw MicroError(
                    "cannot create a temporary directory from \(template): \(String(cString: strerror(errno)))")
            }
            self.path = String(cString: created)
            self.isTemporary = true
        }
    }

    /// A store directory that does not exist yet: a benchmark never runs on data left by another
    /// run.
    func newSubdirectory(_ name: String) throws -> String {
        let subdirectory = (path as NSString).appendingPathComponent(name)
        guard !FileManager.default.fileExists(atPath: subdirectory) else {
            throw MicroError("\(subdirectory) already exists; give --data-dir an empty or new directory")
        }
        return subdirectory
    }

    func removeIfTemporary() {
        guard isTemporary else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}
