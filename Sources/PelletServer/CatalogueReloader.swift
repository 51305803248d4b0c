import Foundation
import Logging
import PelletProviders
import PelletRouter
import PelletWire

/// Where pelletd's catalogue and provider keys come from: read at start-up and again at each
/// reload (SIGHUP, `pelletctl catalogue reload`).
public struct CatalogueSources: Sendable {
    /// `--catalogue`; nil: the built-in catalogue.
    public var cataloguePath: String?
    /// `--env-file`: `KEY=VALUE` lines whose values take precedence over `environment`.
    public var environmentFile: String?
    /// The process environment, as pelletd started with it.
    public var environment: [String: String]
    /// `--provider-url`.
    public var overrides: [ProviderURLOverride]
    public var breakerConfiguration: CircuitBreakerConfiguration

    public init(
        cataloguePath: String?,
        environmentFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        overrides: [ProviderURLOverride] = [],
        breakerConfiguration: CircuitBreakerConfiguration = CircuitBreakerConfiguration()
    ) {
        self.cataloguePath = cataloguePath
        self.environmentFile = environmentFile
        self.environment = environment
        self.overrides = overrides
        self.breakerConfiguration = breakerConfiguration
    }

    /// Reads the files and builds the router and the providers' directory. `previous`: the
    /// directory now in use, whose breakers carry over for providers that did not change.
    /// Throws a one-line reason naming the file, line and column at fault.
    public func load(reusing previous: ProviderDirectory? = nil) throws(ConfigurationFileError) -> CatalogueSetup {
        let catalogue: Catalogue
        do throws(CatalogueError) {
            if let cataloguePath {
                catalogue = try Catalogue(contentsOf: cataloguePath)
            } else {
                catalogue = try Catalogue.loadBundled()
            }
        } catch {
            throw ConfigurationFileError(
                path: cataloguePath ?? "(built-in catalogue)", line: error.line, column: error.column,
                reason: error.reason)
        }
        var keys = environment
        if let environmentFile {
            keys.merge(try EnvironmentFile.read(path: environmentFile)) { _, fromFile in fromFile }
        }
        let endpoints = Self.endpoints(of: catalogue)
        let unknown = ProviderConfiguration.unknownNames(in: overrides, endpoints: endpoints)
        if let name = unknown.first {
            throw ConfigurationFileError(
                path: cataloguePath ?? "(built-in catalogue)", line: 0, column: 0,
                reason: "--provider-url names provider \"\(name)\", which is neither built in nor defined in the catalogue's providers (known: \(catalogue.providers.map(\.rawValue).joined(separator: ", ")))")
        }
        let configurations = ProviderConfiguration.fromEnvironment(keys, endpoints: endpoints, overrides: overrides)
        let directory = ProviderDirectory(
            configurations: configurations, reusing: previous, breakerConfiguration: breakerConfiguration)
        return CatalogueSetup(router: Router(catalogue: catalogue), directory: directory)
    }

    /// The built-in endpoints and those the catalogue defines.
    public static func endpoints(of catalogue: Catalogue) -> [ProviderEndpoint] {
        ProviderEndpoint.builtIn
            + catalogue.providerDefinitions.map {
                ProviderEndpoint(
                    name: $0.name, defaultBaseURL: $0.baseURL, apiKeyEnvironmentVariable: $0.apiKeyEnvironmentVariable)
            }
    }
}

/// Reloads the catalogue and the provider keys into a running server: SIGHUP and the Account
/// call's `reload_catalogue` both come here.
///
/// A reload reads everything first and installs it only when all of it is good, so a bad file
/// leaves the running catalogue in place. Installing swaps one value (``LiveCatalogue``): a call
/// in flight keeps the catalogue, prices and providers it started with, new calls get the new
/// ones. Model discovery keeps what it knows of pairs both catalogues share and reads the lists
/// again at once.
public final class CatalogueReloader: Sendable {
    public let sources: CatalogueSources
    public let live: LiveCatalogue
    private let discovery: ModelDiscovery?
    private let logger: Logger
    /// Two reloads at once (a SIGHUP during a `pelletctl catalogue reload`) run one after the
    /// other, so each builds on the directory the other installed.
    private let serial = NSLock()

    public init(sources: CatalogueSources, live: LiveCatalogue, discovery: ModelDiscovery?, logger: Logger) {
        self.sources = sources
        self.live = live
        self.discovery = discovery
        self.logger = logger
    }

    /// Reads the files (blocking: call it off the event loops) and installs them, or leaves the
    /// running catalogue and says why.
    public func reload(trigger: String) -> Result<CatalogueReload, RPCError> {
        serial.lock()
        defer { serial.unlock() }
        let previous = live.current
        let next: CatalogueSetup
        do {
            next = try sources.load(reusing: previous.directory)
        } catch {
            logger.error(
                "the catalogue was not reloaded; the running one stays: \(error)", metadata: ["trigger": "\(trigger)"])
            return .failure(
                RPCError(.failedPrecondition, "the catalogue was not reloaded; the running one stays: \(error)"))
        }
        discovery?.reconfigure(catalogue: next.catalogue, directory: next.directory)
        live.install(next)
        if let discovery {
            Task { await discovery.refresh() }
        }
        let enabled = next.directory.configurations.values.filter(\.isEnabled).map(\.name).sorted()
        let report = CatalogueReload(
            previousPolicyVersion: previous.router.policyVersion,
            policyVersion: next.router.policyVersion,
            models: UInt32(next.catalogue.models.count),
            providers: next.catalogue.providers.map(\.rawValue),
            enabledProviders: enabled.map(\.rawValue)
        )
        logger.notice(
            "catalogue reloaded",
            metadata: [
                "trigger": "\(trigger)", "policy_version": "\(report.policyVersion)",
                "previous_policy_version": "\(report.previousPolicyVersion)", "models": "\(report.models)",
                "providers": "\(report.providers.joined(separator: ","))",
                "enabled_providers": "\(report.enabledProviders.joined(separator: ","))",
            ])
        return .success(report)
    }
}
