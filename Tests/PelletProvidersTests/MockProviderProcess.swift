import Foundation
import PelletProviders
import XCTest
import PelletWire

/// The real `pellet-mock-provider` binary (built next to the test bundle, as the test target
/// depends on it), started on port 0.
final class MockProviderProcess: @unchecked Sendable {
    // @unchecked: `process` is set up in `init` and only terminated afterwards.
    let baseURL: String
    private let process: Process

    init(arguments: [String] = []) throws {
        let executable = try Self.executable()
        process = Process()
        process.executableURL = executable
        process.arguments = ["--port", "0", "--threads", "2"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()

        // The first line says where it listens.
        let line = Locked<String?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let reader = Thread {
            var text = ""
            while true {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
                if let newline = text.firstIndex(of: "\n") {
                    line.withLock { $0 = String(text[..<newline]) }
                    break
                }
            }
            ready.signal()
            // Keep draining, so the child never blocks on a full pipe.
            while !output.fileHandleForReading.availableData.isEmpty {}
        }
        reader.start()
        guard ready.wait(timeout: .now() + .seconds(20)) == .success, let first = line.current,
            let url = first.split(separator: " ").last, first.hasPrefix("pellet-mock-provider listening on http://")
        else {
            process.terminate()
            throw MockProviderError(
                description: "pellet-mock-provider did not start (printed \(String(describing: line.current)))")
        }
        baseURL = String(url)
    }

    deinit {
        stop()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// A provider configuration pointing at this mock.
    func provider(_ name: ProviderName = .together) -> ProviderConfiguration {
        ProviderConfiguration(name: name, baseURL: baseURL + "/v1", apiKey: APIKey("mock-key"))
    }

    /// `GET /_mock/stats`, through the engine itself.
    func stats(using engine: ProviderEngine) throws -> [String: Int] {
        let handler = RecordingHandler()
        engine.start(HTTPRequest(method: .get, url: baseURL + "/_mock/stats", timeout: .seconds(5)), handler: handler)
        handler.waitForResult()
        let object = try JSONSerialization.jsonObject(with: Data(handler.record.current.body))
        return try XCTUnwrap(object as? [String: Int], "stats: \(handler.bodyText)")
    }

    /// `POST /_mock/reset`.
    func resetStats(using engine: ProviderEngine) {
        let handler = RecordingHandler()
        engine.start(HTTPRequest(method: .post, url: baseURL + "/_mock/reset", timeout: .seconds(5)), handler: handler)
        handler.waitForResult()
    }

    /// Polls the stats until `condition` holds; returns the last stats.
    @discardableResult
    func waitForStats(
        using engine: ProviderEngine, timeout: Duration = .seconds(3), _ condition: ([String: Int]) -> Bool
    ) throws -> [String: Int] {
        let deadline = ContinuousClock.now + timeout
        var stats = try self.stats(using: engine)
        while !condition(stats), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
            stats = try self.stats(using: engine)
        }
        return stats
    }

    private static func executable() throws -> URL {
        var candidates: [URL] = []
        if let override = ProcessInfo.processInfo.environment["PELLET_BIN_DIR"], !override.isEmpty {
            candidates.append(URL(fileURLWithPath: override))
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        candidates.append(Bundle.main.bundleURL)
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        for directory in candidates {
            let file = directory.appendingPathComponent("pellet-mock-provider")
            if FileManager.default.isExecutableFile(atPath: file.path) { return file }
        }
        throw MockProviderError(
            description: "pellet-mock-provider is not built next to the tests (looked in \(candidates.map(\.path)))")
    }
}

struct MockProviderError: Error, CustomStringConvertible {
    let description: String
}
