/* server: the hotfix counter as a gen_server in C (wasmhot.h's
 * wh_server), the twin of go/hotserver: built for VSN 1, 2 and 3, tagged
 * "1.0.0".."3.0.0", upgraded in place with wasmhot suspend, change-code
 * and resume.
 *
 * Calls: "incr" adds the step (1, 10, 100) and replies "vN count=C";
 * "get" replies "vN count=C handled=H from=F". Info: "report" logs what
 * "get" replies, "stop" stops. State: {count, handled i64, from}, from
 * the vsn tag of the version it came from. code_change logs "vN
 * code_change from=OLD extra=EXTRA" and refuses when extra is "refuse". */
#include "wasmhot.h"

#define STR2(x) #x
#define STR(x) STR2(x)
#define V "v" STR(VSN)
#if VSN == 1
#define STEP 1
#elif VSN == 2
#define STEP 10
#else
#define STEP 100
#endif

WH_VSN(STR(VSN) ".0.0");
WASMHOT_ALLOC

static int init(const void *arg, int arg_len, void *st, int cap) {
  (void)arg, (void)arg_len, (void)cap;
  wh_store64(st, 0);
  wh_store64((char *)st + 8, 0);
  return 16;
}

static int append(char *out, int n, const char *s, int len) {
  wh_copy(out + n, s, len);
  return n + len;
}

/* describe writes "vN count=C[ handled=H from=F]" to out. */
static int describe(const unsigned char *st, int st_len, char *out, int full) {
  int n = append(out, 0, WH_LIT(V " count="));
  n += wh_itoa(wh_load64(st), out + n);
  if (!full) return n;
  n = append(out, n, WH_LIT(" handled="));
  n += wh_itoa(wh_load64(st + 8), out + n);
  n = append(out, n, WH_LIT(" from="));
  return append(out, n, (const char *)st + 16, st_len - 16);
}

static int handle_call(const void *req, int len, wh_from from, void *st, int *st_len, void *reply, int cap) {
  (void)from, (void)cap;
  unsigned char *s = st;
  if (*st_len < 16) *st_len = init(0, 0, st, 0);
  wh_store64(s + 8, wh_load64(s + 8) + 1);
  if (len == 4 && ((const char *)req)[0] == 'i') {
    wh_store64(s, wh_load64(s) + STEP);
    return describe(s, *st_len, reply, 0);
  }
  return describe(s, *st_len, reply, 1);
}

static void handle_info(const void *msg, int len, void *st, int *st_len) {
  static char line[128 + WH_STATE_MAX];
  const char *m = msg;
  if (len == 6 && m[0] == 'r') wh_log(line, describe(st, *st_len, line, 1));
  if (len == 4 && m[0] == 's') wh_server_stop("normal");
}

static int code_change(const char *old, int old_len, void *st, int *st_len, const void *extra, int extra_len,
                       const char **reason) {
  static char line[256];
  int n = append(line, 0, WH_LIT(V " code_change from="));
  n = append(line, n, old, old_len < 64 ? old_len : 64);
  n = append(line, n, WH_LIT(" extra="));
  n = append(line, n, extra, extra_len < 64 ? extra_len : 64);
  wh_log(line, n);
  const char *e = extra;
  if (extra_len == 6 && e[0] == 'r' && e[1] == 'e' && e[2] == 'f') {
    *reason = "refused by " V;
    return 1;
  }
  if (*st_len < 16) *st_len = init(0, 0, st, 0);
  if (old_len > 64) old_len = 64;
  wh_copy((char *)st + 16, old, old_len);
  *st_len = 16 + old_len;
  return 0;
}

static const wh_server srv = {init, handle_call, 0, handle_info, code_change, 0};

WH_SERVER("server", srv)
