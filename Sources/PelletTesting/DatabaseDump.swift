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

/// The names of the files in `directory` whose raw bytes contain `marker`, in name order.
///
/// Unlike ``mdbDump(_:)``, which prints only live entries, this also sees LMDB's freed pages,
/// where a deleted record's bytes stay until the data file is compacted. Files that cannot be
/// read as bytes (the Unix socket) count as empty.
public func filesContaining(_ marker: some Sequence<UInt8>, in directory: String) throws -> [String] {
    let needle = Data(marker)
    return try FileManager.default.contentsOfDirectory(atPath: directory).sorted().filter { file in
        let bytes = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(file)) ?? Data()
        return bytes.range(of: needle) != nil
    }
}
