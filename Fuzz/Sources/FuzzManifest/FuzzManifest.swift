// libFuzzer target `manifest`: see Sources/FuzzSupport/fuzz_manifest.c.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzz_manifest(data, size)
}
