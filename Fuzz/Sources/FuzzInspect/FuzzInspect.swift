// libFuzzer target `inspect`: see Sources/FuzzSupport/fuzz_inspect.c.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzz_inspect(data, size)
}
