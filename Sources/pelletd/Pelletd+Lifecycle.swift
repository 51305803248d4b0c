import ArgumentParser
import Foundation
import Logging
import PelletCluster
import PelletProviders
import PelletRouter
import PelletServer
import PelletStore
import PelletWire
import Synchronization

/// pelletd's start-up and shutdown helpers: the operators' listener, the data directory, the
/// map-usage watch, and a bounded wait for the cluster link.
extension Pelletd {
    static let clusterStopLimit = Duration.seconds(5)

    /// How long a data directory that ran alone waits at start-up for the cluster database, to
    /// import its accounts and keys, before pelletd gives up starting.
    static let clusterImportLimit = Duration.seconds(30)

    /// Start-up's wait for the cluster link (`loop` runs it). A node that says "ready" has the
    /// accounts and keys the database had; one that cannot reach it serves from its copy and
    /// keeps trying. But a data directory that ran alone holds accounts the database lacks, and
    /// following the cluster without them would lose them: it starts only once they are
    /// imported (``Cluster/importsLocalAccounts``), and not at all if the import is refused or
    /// the database cannot be reached.
    static func waitForCluster(_ cluster: Cluster, loop: Task<Void, Never>, logger: Logger) async throws {
        guard cluster.importsLocalAccounts else {
            if await !cluster.waitUntilConnected(timeout: .seconds(10)) {
                logger.warning(
                    "cluster database not reached at start-up; serving accounts and keys from this node's copy",
                    metadata: ["cluster": "\(cluster.url)"])
            }
            return
        }
        logger.notice(
            "this data directory ran without --database-url: importing its accounts and keys into the cluster database",
            metadata: ["cluster": "\(cluster.url)"])
        let failure: StartupFailure
        do {
            guard !(try await cluster.waitUntilJoined(timeout: clusterImportLimit)) else { return }
            failure = StartupFailure(
                "this data directory ran without --database-url and holds accounts and keys the cluster database does not have yet; pelletd imports them at its first start in cluster mode, but the database (\(cluster.url)) was not reached within \(clusterImportLimit). Start it again once the database is reachable, or without --database-url to keep running alone")
        } catch {
            failure = StartupFailure("cannot join the cluster: \(error)")
        }
        loop.cancel()
        _ = await finishes(loop, within: clusterStopLimit)
        throw failure
    }

    /// A data directory that was a cluster node's copy, now run alone: account and key changes
    /// made here stay in it, and it is not imported when it rejoins (only a directory that never
    /// joined is), so its next full resynchronization drops them. Said at start, not found out
    /// later.
    static func warnIfFormerClusterNode(_ store: Store, logger: Logger) {
        guard let applied = try? store.replicatedSequence(), applied > 0 else { return }
        logger.warning(
            "this data directory is a cluster node's copy, now run without --database-url: accounts and keys created or changed here stay in this copy only and are dropped when it rejoins the cluster; change them in the cluster instead, or use a new data directory to run alone",
            metadata: ["cluster.sequence": "\(applied)"])
    }

    /// Whether `task` ends within `limit`; it is not waited for after that.
    static func finishes(_ task: Task<Void, Never>, within limit: Duration) async -> Bool {
        let ended = ServingFlag()
        Task {
            await task.value
            ended.set(true)
        }
        let deadline = ContinuousClock.now + limit
        while !ended.isSet {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// The operators' listener, or nil with `--metrics-listen off`. Ready means: the RPC
    /// listeners are up and not shutting down, and the store takes writes (else Complete is
    /// refused, and a load balancer should send calls elsewhere).
    func startMetricsServer(
        _ exposition: MetricsExposition, serving: ServingFlag, logger: Logger
    ) async throws -> MetricsServer? {
        guard metricsListen != "off" else { return nil }
        let (host, port) = try parseTCP(metricsListen, flag: "--metrics-listen")
        let store = exposition.store
        return try await MetricsServer.start(
            host: host, port: port,
            endpoints: MetricsServer.Endpoints(
                metrics: { exposition.render() },
                notReadyReason: {
                    guard serving.isSet else { return "the RPC listeners are not serving (starting or shutting down)" }
                    if let refusal = store?.writeRefusal { return RPCError.completeRefused(refusal).message }
                    return nil
                }),
            logger: logger)
    }

    /// SIGHUP: the TLS certificate and key are read again for new connections; open ones keep
    /// theirs. A file that cannot be used leaves the current certificate in place.
    static func reload(_ tls: ServerTLS?, logger: Logger) {
        guard let tls else { return }
        do {
            try tls.reload()
            logger.info("received SIGHUP, reloaded the TLS certificate", metadata: ["tls.cert": "\(tls.files.certificate)"])
        } catch {
            logger.error("received SIGHUP; the TLS certificate was not reloaded, the old one stays: \(error)")
        }
    }

    /// Logs a warning as the store's map fills past 80% (then at each further 5%).
    static func watchMapUsage(_ store: Store, logger: Logger) async {
        var warnings = MapUsageWarnings()
        while !Task.isCancelled {
            if let usage = try? store.mapUsage(), let warning = warnings.check(usage) {
                logger.warning("\(warning)")
            }
            try? await Task.sleep(for: .seconds(10))
        }
    }

    func createDataDirectory() throws {
        do {
            // Private from the start (the store tightens an existing one).
            try FileManager.default.createDirectory(
                atPath: dataDir,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: Int(DataDirectory.directoryMode)]
            )
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            let reason = underlying.map { String(cString: strerror(Int32($0.code))) }
            throw StartupFailure("cannot create the data directory \(dataDir): \(reason ?? error.localizedDescription)")
        }
        guard access(dataDir, W_OK) == 0 else {
            throw StartupFailure("the data directory \(dataDir) is not writable: \(String(cString: strerror(errno)))")
        }
    }

    /// The id of the group `name`, for `--unix-group`.
    static func groupID(_ name: String) throws -> gid_t {
        guard let entry = getgrnam(name) else {
            throw StartupFailure("--unix-group: there is no group named \(name)")
        }
        return entry.pointee.gr_gid
    }
}

/// Whether the RPC listeners serve: set once they are up, cleared when shutdown begins. (Also
/// the flag a bounded wait polls.)
final class ServingFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set(_ serving: Bool) { value.store(serving, ordering: .relaxed) }
}

/// A start-up problem, printed as one readable line before exiting non-zero.
struct StartupFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
