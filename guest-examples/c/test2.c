/* test2: the seeds' partial update in C. loop receives a tick, logs its
 * body line with what ?MODULE:f() returned, and loops locally; f is called
 * through the module's import of its own name (test2.f), an external call
 * that lands in the current version. VSN=2 adds a line to the loop body and
 * changes f. A message starting with 's' stops it. Load it as "test2". */
#include "wasmhot.h"

#ifndef VSN
#define VSN 1
#endif

WH_GUEST_IMPORT("test2", "f") int external_f(void);

WH_EXPORT("f") int f(void) { return VSN; }

static char msg[100];
static char line[] = "[loop v" "0" " body] f() -> v0";

WH_EXPORT("loop") void loop(void) {
  for (;;) {
    int n = wh_receive_trunc(msg, sizeof msg, WH_FOREVER);
    if (n > 0 && msg[0] == 's') return;
#if VSN == 2
    wh_log(WH_LIT("NEW CODE LINE IN LOOP"));
#endif
    line[7] = (char)('0' + VSN);
    line[sizeof line - 2] = (char)('0' + external_f());
    wh_log(line, sizeof line - 1);
  }
}
