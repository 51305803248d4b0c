import Foundation
import PelletProviders
import PelletRouter

/// The catalogue a call routes with and the providers it may call, taken together: one value,
/// so that a call never mixes a reloaded catalogue with the providers of the old one.
public struct CatalogueSetup: Sendable {
    public let router: Router
    public let directory: ProviderDirectory

    public init(router: Router, directory: ProviderDirectory) {
        self.router = router
        self.directory = directory
    }

    public var catalogue: Catalogue { router.catalogue }
}

/// The current ``CatalogueSetup``, replaced whole by a reload (SIGHUP, `pelletctl catalogue
/// reload`). Each call reads it once when it starts and keeps that value to its end: calls in
/// flight finish on the catalogue and prices they started with, new calls get the new one.
///
/// Read on every Route and Complete call. An `NSLock` (a pthread mutex) rather than
/// `Synchronization.Mutex`, as the project's other shared state: ThreadSanitizer on Linux reports
/// false races through `Mutex`'s futex path. Uncontended, it costs tens of nanoseconds, and
/// writers come only with a reload.
///
/// `@unchecked Sendable` is safe because `setup` is only read or written while `lock` is held.
public final class LiveCatalogue: @unchecked Sendable {
    private let lock = NSLock()
    private var setup: CatalogueSetup

    public init(_ setup: CatalogueSetup) {
        self.setup = setup
    }

    public convenience init(router: Router, directory: ProviderDirectory) {
        self.init(CatalogueSetup(router: router, directory: directory))
    }

    public var current: CatalogueSetup {
        lock.withLock { setup }
    }

    /// Installs `newSetup` for the calls that start from now on.
    public func install(_ newSetup: CatalogueSetup) {
        lock.withLock { setup = newSetup }
    }
}
