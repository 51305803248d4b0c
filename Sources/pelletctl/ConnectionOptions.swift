import ArgumentParser
import Foundation
import PelletClient
import PelletWire

/// Where pelletd is and how to talk to it; shared by every subcommand.
struct ConnectionOptions: ParsableArguments {
    static let defaultDataDirectory = "./pellet-data"

    @Option(
        help: ArgumentHelp(
            "The pelletd to talk to: unix:PATH, tcp://HOST:PORT or tls://HOST:PORT. (default: unix:<data-dir>/pellet.sock)",
            valueName: "address"
        )
    )
    var server: String?

    @Option(
        help: ArgumentHelp(
            "pelletd's data directory, where the default socket and admin.token are.",
            valueName: "path"
        )
    )
    var dataDir: String = Self.defaultDataDirectory

    @Option(
        help: ArgumentHelp(
            "The admin token. (default: $PELLET_ADMIN_TOKEN, else the contents of <data-dir>/admin.token)",
            valueName: "token"
        )
    )
    var adminToken: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(
        help: ArgumentHelp(
            "The timeout of connecting and of each call, in milliseconds. (default: the server's for calls, 5000 for connecting)",
            valueName: "ms"
        )
    )
    var timeoutMs: Int?

    @Option(
        help: ArgumentHelp(
            "With tls://: the CA (PEM) that signs pelletd's certificate. (default: the system's trust roots)",
            valueName: "file"
        )
    )
    var tlsCa: String?

    @Option(help: ArgumentHelp("With tls:// and mutual TLS: this client's certificate (PEM).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("With tls:// and mutual TLS: the private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give both or neither")
        }
        guard !dataDir.isEmpty else { throw ValidationError("--data-dir may not be empty") }
        do {
            _ = try address()
        } catch {
            throw ValidationError(error.message)
        }
        if let timeoutMs, !(1...Int(UInt32.max)).contains(timeoutMs) {
            throw ValidationError("--timeout-ms must be from 1 to \(UInt32.max), not \(timeoutMs)")
        }
    }

    /// `--server`, else the socket in the data directory.
    func address() throws(RPCError) -> PelletAddress {
        if let server { return try PelletAddress(parsing: server) }
        return .unix(path: dataDirectory + "/pellet.sock")
    }

    /// The per-call timeout sent to the server; nil leaves it to the server.
    var timeout: Duration? {
        timeoutMs.map { .milliseconds($0) }
    }

    /// `--admin-token`, else `$PELLET_ADMIN_TOKEN`, else `<data-dir>/admin.token` if readable.
    func resolvedAdminToken() -> String? {
        if let adminToken, !adminToken.isEmpty { return adminToken }
        if let token = ProcessInfo.processInfo.environment["PELLET_ADMIN_TOKEN"], !token.isEmpty { return token }
        guard let contents = try? String(contentsOfFile: dataDirectory + "/admin.token", encoding: .utf8) else {
            return nil
        }
        let token = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }

    /// Credentials carrying the admin token, for the commands that need it.
    func adminCredentials() -> Credentials {
        Credentials(adminToken: resolvedAdminToken() ?? "")
    }

    /// Connects, turning "cannot reach" into advice about pelletd.
    func connect() async throws(RPCError) -> PelletClient {
        let address = try address()
        do {
            return try await PelletClient.connect(
                to: address,
                tls: ClientTLSOptions(trustedCA: tlsCa, certificate: tlsCert, privateKey: tlsKey),
                connectTimeout: timeout ?? .seconds(5))
        } catch where error.status == .unavailable && !error.message.contains("certificate") {
            // A certificate problem means pelletd was reached: advice on reaching it would mislead.
            throw RPCError(
                .unavailable,
                "\(error.message); check that pelletd is running and listening on \(address)"
                    + (server == nil ? " (or pass --server or --data-dir)" : "")
            )
        }
    }

    /// Runs `body` on a new connection and closes it afterwards, whatever happens.
    func withClient<Value>(_ body: (PelletClient) async throws(RPCError) -> Value) async throws(RPCError) -> Value {
        let client = try await connect()
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// One Account call, on its own connection, with the admin token unless `credentials` are given.
    func accountCall(
        _ op: AccountRequest.Op,
        credentials: Credentials? = nil
    ) async throws(RPCError) -> AccountResponse {
        let request = AccountRequest(credentials: credentials ?? adminCredentials(), op: op)
        return try await withClient { client throws(RPCError) in try await client.account(request, timeout: timeout) }
    }

    /// The account's whole export, page by page over one connection.
    func exportAccount(_ id: String) async throws(RPCError) -> [UInt8] {
        let credentials = adminCredentials()
        return try await withClient { client throws(RPCError) in
            try await client.exportAccount(id, credentials: credentials, timeout: timeout)
        }
    }

    private var dataDirectory: String {
        var directory = dataDir
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        return directory
    }
}
