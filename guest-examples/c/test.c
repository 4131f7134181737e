/* test: the seeds' loop in C. run logs a line, waits for the next tick,
 * then continues with ?MODULE:run(), so a reload shows from the next
 * iteration on. Build v1 ("this is old code") and v2 ("this is new code")
 * with -DVSN=1 / -DVSN=2 (guest-examples/build-langs.sh).
 *
 * A tick is a message, or the end of a wait of state milliseconds (decimal
 * text; default 100, "-1" waits for messages only). A message starting
 * with 's' (stop) ends the process.
 *   run        one line per tick, then continue("run"): the upgrade point
 *   run_local  the same in a local loop: it never leaves its version */
#include "wasmhot.h"

#ifndef VSN
#define VSN 1
#endif
#if VSN == 1
#define TEXT "this is old code"
#else
#define TEXT "this is new code"
#endif

static char msg[64];

/* tick waits for the next tick and returns 0 for stop. */
static int tick(void) {
  char st[16];
  int ok, n = wh_state(st, sizeof st);
  long long ms = 100;
  if (n > 0 && n <= (int)sizeof st) {
    long long v = wh_atoi(st, n, &ok);
    if (ok) ms = v;
  }
  n = wh_receive_trunc(msg, sizeof msg, (int)ms);
  return !(n > 0 && msg[0] == 's');
}

WH_EXPORT("run") void run(void) {
  wh_log(WH_LIT(TEXT));
  if (tick()) wh_continue(WH_LIT("run"));
}

WH_EXPORT("run_local") void run_local(void) {
  do wh_log(WH_LIT(TEXT));
  while (tick());
}
