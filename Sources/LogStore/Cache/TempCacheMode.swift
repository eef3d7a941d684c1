#if canImport(Glibc)
import Glibc
#endif
// TEMPORARY (measurement only): 0 off, 1 containers only, 2 every value.
extension Store {
    static let cacheMode: Int = {
        if let m = getenv("LS_CACHE_MODE") { return Int(atoi(m)) }
        return 1
    }()
}
