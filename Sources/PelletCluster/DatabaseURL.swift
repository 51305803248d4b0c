import Foundation
import PostgresNIO

/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (also `postgresql://`), the form of
/// `--database-url` and `PELLET_DATABASE_URL`, as a PostgresNIO configuration. Percent-encoded
/// user names and passwords are decoded. The password is never part of `description`.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let username: String
    let password: String?
    public let database: String

    public init(parsing text: String) throws(DatabaseURLError) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw DatabaseURLError("expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        guard let host = components.host, !host.isEmpty else {
            throw DatabaseURLError("the database url names no host")
        }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw DatabaseURLError("the database url names no user")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw DatabaseURLError("the database url names no database (…/DATABASE at its end)")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user
        self.password = components.percentEncodedPassword?.removingPercentEncoding
        self.database = database
    }

    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    var clientConfiguration: PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
    }
}

public struct DatabaseURLError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = "invalid --database-url: \(description)" }
}
