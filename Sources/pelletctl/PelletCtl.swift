import ArgumentParser
import PelletClient
import PelletWire

@main
struct PelletCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pelletctl",
        abstract: "Administer a running pelletd.",
        discussion: """
            Exit status: 0 on success, 1 when a call fails (the error is printed as \
            "error: STATUS: message"), 2 for a usage error.
            """,
        subcommands: [
            Health.self, Ping.self, Route.self, Models.self, AccountCommand.self, KeyCommand.self, Usage.self,
            Complete.self, Whoami.self, Compact.self, CatalogueCommand.self,
        ]
    )

    /// ArgumentParser's own `main`, except for the exit statuses: RPC errors print as
    /// "error: STATUS_NAME: message" and exit 1; usage errors exit 2 rather than EX_USAGE (64).
    static func main() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as RPCError {
            Output.printError("error: \(error)")
            exit(withError: ExitCode.failure)
        } catch {
            if exitCode(for: error) == .validationFailure {
                Output.printError(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}
