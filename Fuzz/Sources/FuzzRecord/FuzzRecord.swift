// libFuzzer target `record`: see Sources/FuzzSupport/fuzz_record.c.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzz_record(data, size)
}
