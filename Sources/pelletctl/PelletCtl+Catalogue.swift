import ArgumentParser
import PelletWire

extension PelletCtl {
    struct CatalogueCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "catalogue",
            abstract: "Manage pelletd's model catalogue (needs the admin token).",
            subcommands: [Reload.self]
        )

        struct Reload: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make pelletd read its catalogue and provider keys again, without a restart.",
                discussion: """
                    pelletd reads --catalogue (else its built-in catalogue) and the keys of \
                    --env-file again, as on SIGHUP. New calls use them; calls in flight finish on the \
                    catalogue they started with. A file that cannot be used is refused with its line \
                    and column, and the running catalogue stays.
                    """
            )

            @OptionGroup var options: ConnectionOptions

            func run() async throws {
                let response = try await options.accountCall(.reloadCatalogue(ReloadCatalogue()))
                guard let report = response.catalogueReload else {
                    throw RPCError(.internal, "the server's reply to reload_catalogue has no report")
                }
                if options.json {
                    try Output.printJSON(CatalogueReloadJSON(report))
                    return
                }
                let version =
                    report.policyVersion == report.previousPolicyVersion
                    ? "policy_version \(report.policyVersion) (unchanged)"
                    : "policy_version \(report.previousPolicyVersion) → \(report.policyVersion)"
                print("catalogue reloaded: \(report.models) models, \(version)")
                print("providers: \(report.providers.joined(separator: ", "))")
                print("enabled:   \(report.enabledProviders.joined(separator: ", "))")
            }
        }
    }
}

struct CatalogueReloadJSON: Encodable {
    var previous_policy_version, policy_version: String
    var models: UInt32
    var providers, enabled_providers: [String]

    init(_ report: CatalogueReload) {
        previous_policy_version = report.previousPolicyVersion
        policy_version = report.policyVersion
        models = report.models
        providers = report.providers
        enabled_providers = report.enabledProviders
    }
}
