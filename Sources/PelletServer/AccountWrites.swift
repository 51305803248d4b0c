import PelletStore
import PelletWire

/// Where the Account call's changes to accounts and keys are made: this node's store when it
/// works alone, the cluster's database (then every node's copy) in cluster mode. Reads always
/// come from the local store.
public protocol AccountWrites: Sendable {
    func createAccount(_ account: Account) async throws -> Account
    func updateAccount(_ changes: Account) async throws -> Account
    func deleteAccount(id: String) async throws -> Account
    func createKey(accountID: String, name: String) async throws -> (plaintext: String, record: ApiKey)
    func revokeKey(id: String) async throws -> ApiKey
}

extension Store: AccountWrites {}
