import Foundation
import Logging
import PelletStore

/// The admin token: from PELLET_ADMIN_TOKEN, else --admin-token-file, else
/// `<data-dir>/admin.token`, generated (mode 0600) on first start.
enum AdminToken {
    static func load(dataDirectory: String, file: String?, logger: Logger) throws -> String {
        if let token = ProcessInfo.processInfo.environment["PELLET_ADMIN_TOKEN"], !token.isEmpty {
            return token
        }
        if let file {
            return try read(file)
        }
        let path = (dataDirectory as NSString).appendingPathComponent("admin.token")
        if FileManager.default.fileExists(atPath: path) {
            // pelletd owns this file (not one given with --admin-token-file): keep it private.
            do {
                try DataDirectory.tighten(path, to: DataDirectory.fileMode, logger: logger)
            } catch {
                throw StartupFailure("\(error)")
            }
            return try read(path)
        }
        let token = "padm_" + randomBase62(count: 43)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw StartupFailure("cannot create the admin token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array((token + "\n").utf8)
        guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
            throw StartupFailure("cannot write the admin token file \(path): \(String(cString: strerror(errno)))")
        }
        logger.notice("generated a new admin token", metadata: ["file": "\(path)"])
        return token
    }

    private static func read(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StartupFailure("cannot read the admin token file \(path)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16 else {
            throw StartupFailure("the admin token in \(path) is shorter than 16 characters")
        }
        return token
    }

    /// Random characters from the system CSPRNG, without modulo bias.
    private static func randomBase62(count: Int) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
