/* The fuzz harnesses of the C core: one function per libFuzzer target, called by the target's
 * LLVMFuzzerTestOneInput (Sources/Fuzz<Name>/Fuzz<Name>.swift). Each checks invariants of the code
 * under test and aborts on a violation; each returns 0. */
#ifndef FUZZ_SUPPORT_H
#define FUZZ_SUPPORT_H
#include <stddef.h>
#include <stdint.h>
int fuzz_frame(const uint8_t *data, size_t size);
int fuzz_record(const uint8_t *data, size_t size);
int fuzz_scan(const uint8_t *data, size_t size);
int fuzz_manifest(const uint8_t *data, size_t size);
int fuzz_blob(const uint8_t *data, size_t size);
int fuzz_inspect(const uint8_t *data, size_t size);
#endif
