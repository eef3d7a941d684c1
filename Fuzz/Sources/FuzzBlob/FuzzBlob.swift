// libFuzzer target `blob`: see Sources/FuzzSupport/fuzz_blob.c.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzz_blob(data, size)
}
