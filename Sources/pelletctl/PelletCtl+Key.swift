import ArgumentParser
import PelletClient
import PelletWire

extension PelletCtl {
    struct KeyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key",
            abstract: "Create, list and revoke API keys (needs the admin token).",
            subcommands: [Create.self, List.self, Revoke.self]
        )
    }
}

extension PelletCtl.KeyCommand {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key for an account and print it, the only time it is shown."
        )

        static let warning = "This key is shown only once; store it now. Pellet keeps only its SHA-256."

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The account's id (acc_...).")
        var accountId: String

        @Option(help: "A name to tell the key apart, e.g. where it is used; at most 200 characters.")
        var name: String?

        func validate() throws {
            guard !accountId.isEmpty else { throw ValidationError("the account id may not be empty") }
        }

        func run() async throws {
            let response = try await options.accountCall(.createKey(CreateKey(accountId: accountId, name: name ?? "")))
            guard let key = response.keys.first, !response.apiKey.isEmpty else {
                throw RPCError(.internal, "pelletd's reply has no key")
            }
            Output.printError(Self.warning)
            if options.json {
                try Output.printJSON(CreatedKeyJSON(apiKey: response.apiKey, key: KeyJSON(key)))
            } else {
                print(KeyFields.text(key, plaintext: response.apiKey), terminator: "")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List an account's API keys, oldest first, revoked ones included (never the keys themselves)."
        )

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The account's id (acc_...).")
        var accountId: String

        func validate() throws {
            guard !accountId.isEmpty else { throw ValidationError("the account id may not be empty") }
        }

        func run() async throws {
            let keys = try await options.accountCall(.listKeys(accountId)).keys
            if options.json {
                try Output.printJSON(KeyList(keys: keys.map(KeyJSON.init)))
            } else if keys.isEmpty {
                print("no keys")
            } else {
                let rows = keys.map { key in
                    [
                        key.id,
                        key.prefix,
                        key.name.isEmpty ? "-" : key.name,
                        Output.isoTimestamp(unixMs: key.createdUnixMs),
                        key.lastUsedUnixMs == 0 ? "never" : Output.isoTimestamp(unixMs: key.lastUsedUnixMs),
                        key.revokedUnixMs == 0 ? "-" : Output.isoTimestamp(unixMs: key.revokedUnixMs),
                    ]
                }
                print(Output.table(["ID", "PREFIX", "NAME", "CREATED", "LAST USED", "REVOKED"], rows), terminator: "")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke an API key: the very next call with it fails. Revoking twice keeps the first time."
        )

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The key's id (key_...), as `key list` shows it.")
        var keyId: String

        func validate() throws {
            guard !keyId.isEmpty else { throw ValidationError("the key id may not be empty") }
        }

        func run() async throws {
            guard let key = try await options.accountCall(.revokeKey(keyId)).keys.first else {
                throw RPCError(.internal, "pelletd's reply has no key")
            }
            if options.json {
                try Output.printJSON(KeyJSON(key))
            } else {
                print(KeyFields.text(key), terminator: "")
            }
        }
    }
}

enum KeyFields {
    /// The key's metadata as labelled lines, after the plaintext when it has just been created.
    static func text(_ key: ApiKey, plaintext: String? = nil) -> String {
        var pairs: [(String, String)] = []
        if let plaintext { pairs.append(("api key", plaintext)) }
        pairs += [
            ("id", key.id),
            ("account", key.accountId),
            ("name", key.name.isEmpty ? "-" : key.name),
            ("prefix", key.prefix),
            ("created", Output.isoTimestamp(unixMs: key.createdUnixMs)),
            ("last used", key.lastUsedUnixMs == 0 ? "never" : Output.isoTimestamp(unixMs: key.lastUsedUnixMs)),
            ("revoked", key.revokedUnixMs == 0 ? "no" : Output.isoTimestamp(unixMs: key.revokedUnixMs)),
        ]
        return Output.fields(pairs)
    }
}

/// A key's metadata in `--json` output, with the schema's field names.
struct KeyJSON: Encodable {
    var id, accountId, name, prefix: String
    var createdUnixMs, lastUsedUnixMs, revokedUnixMs: UInt64

    init(_ key: ApiKey) {
        id = key.id
        accountId = key.accountId
        name = key.name
        prefix = key.prefix
        createdUnixMs = key.createdUnixMs
        lastUsedUnixMs = key.lastUsedUnixMs
        revokedUnixMs = key.revokedUnixMs
    }

    enum CodingKeys: String, CodingKey {
        case id, name, prefix
        case accountId = "account_id"
        case createdUnixMs = "created_unix_ms"
        case lastUsedUnixMs = "last_used_unix_ms"
        case revokedUnixMs = "revoked_unix_ms"
    }
}

/// `key create --json`: the plaintext beside the metadata.
private struct CreatedKeyJSON: Encodable {
    var apiKey: String
    var key: KeyJSON

    enum CodingKeys: String, CodingKey {
        case apiKey = "api_key"
        case key
    }
}

private struct KeyList: Encodable {
    var keys: [KeyJSON]
}
