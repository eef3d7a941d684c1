/* Umbrella header of the C core, imported by Swift as the module CLogStore. */
#ifndef CLOGSTORE_H
#define CLOGSTORE_H
#include "ls_crc32c.h"
#include "ls_format.h"
#include "ls_io.h"
#include "ls_faultio.h"
#include "ls_log.h"
#include "ls_inspect.h"
#include "ls_blob.h"
#include "ls_mutex.h"
#include "ls_spin_policy.h"
#include "ls_tsan_handoff.h"
#endif
