import Foundation

/// Everything LMDB holds in a data directory, as `mdb_dump -a -p` prints it (every named
/// database; printable bytes as themselves): what privacy tests search for deleted data.
public func mdbDump(_ directory: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/mdb_dump")
    process.arguments = ["-a", "-p", directory]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "mdb_dump \(directory) exited with \(process.terminationStatus)"])
    }
    return String(decoding: data, as: UTF8.self)
}
