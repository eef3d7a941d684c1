/* Filling ls_error values, and the names of status codes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ls_internal.h"

static int err_fill(ls_error *err, int code, int sys_errno, const char *path, int has_offset, uint64_t offset,
                    const char *fmt, va_list ap) {
    if (!err) return code;
    memset(err, 0, sizeof *err);
    err->code = code;
    err->sys_errno = sys_errno;
    err->has_offset = has_offset;
    err->offset = offset;
    if (path) snprintf(err->path, sizeof err->path, "%s", path);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    return code;
}

int ls_err_set(ls_error *err, int code, int sys_errno, const char *path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = err_fill(err, code, sys_errno, path, 0, 0, fmt, ap);
    va_end(ap);
    return rc;
}

int ls_err_set_at(ls_error *err, int code, int sys_errno, const char *path, uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = err_fill(err, code, sys_errno, path, 1, offset, fmt, ap);
    va_end(ap);
    return rc;
}

uint64_t ls_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *ls_status_name(int status) {
    switch (status) {
    case LS_OK: return "ok";
    case LS_E_INVALID: return "invalid argument";
    case LS_E_IO: return "I/O error";
    case LS_E_NOSPACE: return "no space";
    case LS_E_CORRUPT: return "corrupt";
    case LS_E_UNKNOWN_OUTCOME: return "outcome unknown";
    case LS_E_FAILED: return "log failed";
    case LS_E_TOO_LARGE: return "too large";
    case LS_E_CLOSED: return "closed";
    case LS_E_NOMEM: return "out of memory";
    case LS_E_COMPRESS: return "compression error";
    case LS_E_BUSY: return "busy";
    case LS_E_NOT_FOUND: return "not found";
    case LS_E_READ_ONLY: return "read-only";
    }
    return "unknown status";
}
