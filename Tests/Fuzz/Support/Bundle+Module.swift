import Foundation

// SwiftPM generates `Bundle.module` for a target with resources; the fuzz build compiles
// PelletRouter's sources without SwiftPM, and the catalogue target never loads the bundled file.
extension Bundle {
    static let module = Bundle.main
}
