import PelletRouter

/// The model catalogue's decoder (a positioned JSON parser and the schema checks over it): any
/// bytes either decode or fail with a position inside the document.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    do {
        let catalogue = try Catalogue(data: bytes)
        precondition(!catalogue.models.isEmpty, "a catalogue without models decoded")
    } catch {
        let lines = bytes.lazy.filter { $0 == UInt8(ascii: "\n") }.count + 1
        precondition(error.line >= 1 && error.line <= lines, "error line \(error.line) outside the \(lines) lines")
        precondition(error.column >= 1, "error column \(error.column)")
    }
    return 0
}
