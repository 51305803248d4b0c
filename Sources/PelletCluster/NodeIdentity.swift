import Foundation
import PelletStore

/// This node's id in the cluster: the name its budget leases carry in PostgreSQL.
///
/// Kept in the data directory (`cluster-node-id`, mode 0600), made once at random: a node that
/// restarts on its data directory is the same node, with the same month spend in its LMDB as the
/// leases it holds. (A copy of a data directory started as a second node would share the id;
/// give a copy a fresh one by deleting the file.)
enum NodeIdentity {
    static let fileName = "cluster-node-id"

    static func load(dataDirectory: String) throws -> String {
        let path = (dataDirectory as NSString).appendingPathComponent(fileName)
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        let id = "node_" + RandomIdentifier.base62(count: 16)
        guard FileManager.default.createFile(
            atPath: path, contents: Data((id + "\n").utf8),
            attributes: [.posixPermissions: Int(DataDirectory.fileMode)])
        else {
            throw ClusterSetupError("cannot write the cluster node id to \(path)")
        }
        return id
    }
}

struct ClusterSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
