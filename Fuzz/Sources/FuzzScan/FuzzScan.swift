// libFuzzer target `scan`: see Sources/FuzzSupport/fuzz_scan.c.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzz_scan(data, size)
}
