/* hotfix: the seeds' controlled upgrade in C, a counter server that
 * upgrades only when told to. Messages: "incr" adds 1 (VSN=2: 10), "get"
 * logs "v1 count=N" (v2: "v2 count=N from=F"), "update" saves the state and
 * continues with ?MODULE:server() (the upgrade point), "stop" ends it.
 * Other messages loop locally, so a new version loaded meanwhile is not
 * used until "update".
 *
 * State: v1 keeps the count as 8 bytes (little-endian i64), v2 as 16 bytes
 * {count, upgraded_from}; v2's code_change(from_vsn) turns the one into the
 * other. The layout is the WAT and Go hotfix's. */
#include "wasmhot.h"

#ifndef VSN
#define VSN 1
#endif

static char msg[64];
static char out[64];
static unsigned char st[16];

static int is(const char *lit, int n) {
  int i = 0;
  for (; lit[i]; i++)
    if (i >= n || msg[i] != lit[i]) return 0;
  return i == n;
}

#if VSN == 2
/* code_change runs in the new instance before server when a process moves
 * here from another version: an 8-byte v1 state becomes {count, from_vsn};
 * a v2 state stays as it is. */
WH_EXPORT("code_change") void code_change(long long from_vsn) {
  if (wh_state(st, sizeof st) == 8) {
    wh_store64(st + 8, from_vsn);
    wh_set_state(st, 16);
  }
}
#endif

WH_EXPORT("server") void server(void) {
  long long count = 0;
  int n = wh_state(st, sizeof st);
#if VSN == 1
  if (n == 8) count = wh_load64(st);
#else
  long long from = 0;
  if (n == 16) count = wh_load64(st), from = wh_load64(st + 8);
#endif
  for (;;) {
    n = wh_receive_trunc(msg, sizeof msg, WH_FOREVER);
    if (is("incr", n)) {
      count += VSN == 1 ? 1 : 10;
    } else if (is("get", n)) {
      int len = 0;
      wh_copy(out, VSN == 1 ? "v1 count=" : "v2 count=", 9);
      len = 9 + wh_itoa(count, out + 9);
#if VSN == 2
      wh_copy(out + len, " from=", 6);
      len += 6;
      len += wh_itoa(from, out + len);
#endif
      wh_log(out, len);
    } else if (is("update", n)) {
      wh_store64(st, count);
#if VSN == 1
      wh_set_state(st, 8);
#else
      wh_store64(st + 8, from);
      wh_set_state(st, 16);
#endif
      wh_continue(WH_LIT("server"));
      return;
    } else if (is("stop", n)) {
      return;
    }
  }
}
