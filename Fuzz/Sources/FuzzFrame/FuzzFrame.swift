// libFuzzer target `frame`: see Sources/FuzzSupport/fuzz_frame.c.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzz_frame(data, size)
}
