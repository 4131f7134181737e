/* upper: a bytes function in C. upper(in) returns in upper-cased, prefixed
 * with "vN:". Call it from Go with host.CallBytes(ctx, "upper", "upper", in)
 * or from a guest with call_bytes. */
#include "wasmhot.h"

#ifndef VSN
#define VSN 1
#endif

WASMHOT_ALLOC

WH_EXPORT("upper") unsigned long long upper(const unsigned char *in, int len) {
  unsigned char *out = wh_arena_alloc(len + 3);
  if (!out) return wh_bytes(0, 0);
  out[0] = 'v', out[1] = (unsigned char)('0' + VSN), out[2] = ':';
  for (int i = 0; i < len; i++) {
    unsigned char c = in[i];
    out[i + 3] = c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
  }
  return wh_bytes(out, len + 3);
}
