import ArgumentParser
import Foundation
import PelletWire

extension PelletCtl {
    struct Whoami: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the account an API key belongs to (needs no admin token)."
        )

        @OptionGroup var options: ConnectionOptions

        @Option(
            help: ArgumentHelp(
                "The API key (plt_...). (default: $PELLET_API_KEY, which keeps it out of the process list)",
                valueName: "key"
            )
        )
        var apiKey: String?

        func validate() throws {
            guard resolvedAPIKey() != nil else {
                throw ValidationError("whoami needs an API key: set PELLET_API_KEY or pass --api-key")
            }
        }

        func run() async throws {
            // The key alone: with an admin token beside it the server would answer as the admin.
            let credentials = Credentials(apiKey: resolvedAPIKey() ?? "")
            let account = try await options.accountCall(.get(""), credentials: credentials).requireAccount()
            try AccountFields.show(account, options)
        }

        /// `--api-key`, else `$PELLET_API_KEY`.
        private func resolvedAPIKey() -> String? {
            if let apiKey, !apiKey.isEmpty { return apiKey }
            if let key = ProcessInfo.processInfo.environment["PELLET_API_KEY"], !key.isEmpty { return key }
            return nil
        }
    }
}
