/* wasmhot.h: the guest ABI v1 of wasmhot for C, with a few helpers.
 *
 * Build a guest without any libc:
 *
 *   clang --target=wasm32 -O2 -nostdlib -mbulk-memory \
 *         -Wl,--no-entry -Wl,--strip-all -o x.wasm x.c
 *
 * Exports are marked in the source with WH_EXPORT("name") (or listed with
 * -Wl,--export=name). -mbulk-memory lets clang turn the copy and fill loops
 * it recognises into memory.copy and memory.fill instead of calls to a
 * memcpy or memset that a libc would provide. wasm-ld exports the memory as
 * "memory" by default (newer ones also take -Wl,--export-memory).
 *
 * Pointers and lengths are 32-bit offsets into the guest's exported memory;
 * pids are 64-bit handles (> 0). See docs/guests.md and docs/design.md
 * ("Guest ABI v1, as built") for the contract.
 */
#ifndef WASMHOT_H
#define WASMHOT_H

typedef long long wh_pid;

#define WH_IMPORT(name) __attribute__((import_module("wasmhot"), import_name(name)))
/* WH_EXPORT("name") exports a function under name. */
#define WH_EXPORT(name) __attribute__((export_name(name), visibility("default")))
/* WH_GUEST_IMPORT("mod", "fn") declares the external call mod:fn. */
#define WH_GUEST_IMPORT(mod, fn) __attribute__((import_module(mod), import_name(fn)))
/* WH_HOST_IMPORT("mod", "fn") declares the host function mod.fn, a Go
 * function of the program that embeds the host (Config.WithHostFunctions).
 * One that returns bytes returns wh_bytes-style ptr<<32|len in memory the
 * host got from the module's alloc export. */
#define WH_HOST_IMPORT(mod, fn) __attribute__((import_module(mod), import_name(fn)))
/* WH_VSN("1.2.0"); at file scope names this module's version (its vsn tag,
 * like Erlang's -vsn): it writes a wasmhot.vsn custom section, which
 * `wasmhot modules`, Host.Which and code_change show. The string is a
 * literal of 1 to 64 bytes without spaces, quotes or backslashes; without
 * WH_VSN the tag is derived from the module's sha256. */
#define WH_VSN(s) __asm__(".section .custom_section.wasmhot.vsn,\"\",@\n.ascii \"" s "\"\n.text\n")

/* Return codes. */
#define WH_UNDEF (-1)     /* spawn, call_bytes: no such module:function */
#define WH_NOPROC (-1)    /* send: no such process */
#define WH_TIMEOUT (-1)   /* receive: no message in time */
#define WH_LIMIT (-2)     /* spawn: process limit; send: mailbox full or message too large */
#define WH_BADARITY (-2)  /* call_bytes: not a bytes function */
#define WH_BADARG (-3)    /* a pointer, length or name the host refused */
#define WH_TRAPPED (-4)   /* call_checked: the callee trapped */

#define WH_FOREVER (-1)   /* receive timeout: wait until a message comes */

/* self: own pid; 0 outside a process (in a call from the host). */
WH_IMPORT("self") wh_pid wh_self(void);
/* spawn: a process running mod:fn (an export () -> ()) with arg as its
 * state; the pid, or WH_UNDEF, WH_LIMIT, WH_BADARG. */
WH_IMPORT("spawn") wh_pid wh_spawn(const char *mod, int mod_len, const char *fn, int fn_len,
                                   const void *arg, int arg_len);
/* send: copy msg into pid's mailbox; 0, WH_NOPROC, WH_LIMIT or WH_BADARG. */
WH_IMPORT("send") int wh_send(wh_pid pid, const void *msg, int len);
/* receive: the first message's length n, copied into buf and removed only
 * when n <= cap (otherwise it stays first); WH_TIMEOUT after timeout_ms
 * (WH_FOREVER: wait, 0: poll). */
WH_IMPORT("receive") int wh_receive(void *buf, int cap, int timeout_ms);
/* sleep: suspend for ms milliseconds; a kill or purge wakes it. */
WH_IMPORT("sleep") void wh_sleep(int ms);
/* state: the state's length, copied into buf when it fits. */
WH_IMPORT("state") int wh_state(void *buf, int cap);
/* set_state: replace the state with a copy of st. */
WH_IMPORT("set_state") void wh_set_state(const void *st, int len);
/* continue: when the running export returns, go on with ?MODULE:fn, the
 * current version's fn: the upgrade point. */
WH_IMPORT("continue") void wh_continue(const char *fn, int len);
/* call_bytes: the bytes call mod:fn(in); the result's length, copied to out
 * when it fits; WH_UNDEF, WH_BADARITY, WH_BADARG. */
WH_IMPORT("call_bytes") int wh_call_bytes(const char *mod, int mod_len, const char *fn, int fn_len,
                                          const void *in, int in_len, void *out, int out_cap);
/* log: one line to the host's log, prefixed "module vN pid: ". */
WH_IMPORT("log") void wh_log(const char *line, int len);
/* call_checked (ABI v2): the external call mod:fn(args[0..nargs)) of any
 * function (i32 and f32 values in the low 32 bits), its nres results
 * written to res; 0, or its failure as a value instead of the end of the
 * process: WH_UNDEF (the current version does not export fn: a new version
 * dropped it), WH_BADARITY (other counts of parameters or results),
 * WH_TRAPPED (the callee trapped), WH_BADARG. A plain WH_GUEST_IMPORT call
 * of a dropped function ends the process with undef instead. */
WH_IMPORT("call_checked") int wh_call_checked(const char *mod, int mod_len, const char *fn, int fn_len,
                                              const long long *args, int nargs, long long *res, int nres);

/* Helpers. WH_LIT passes a string literal as pointer, length. */
#define WH_LIT(s) (s), (int)(sizeof(s) - 1)

static inline int wh_strlen(const char *s) {
  int n = 0;
  while (s[n]) n++;
  return n;
}

static inline void wh_log_str(const char *s) { wh_log(s, wh_strlen(s)); }

static inline void wh_continue_str(const char *fn) { wh_continue(fn, wh_strlen(fn)); }

static inline void wh_copy(void *dst, const void *src, int n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  for (int i = 0; i < n; i++) d[i] = s[i];
}

/* wh_itoa writes v in decimal at out (up to 20 bytes) and returns the length. */
static inline int wh_itoa(long long v, char *out) {
  char tmp[20];
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  int n = 0, len = 0;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) out[len++] = '-';
  while (n) out[len++] = tmp[--n];
  return len;
}

/* wh_atoi parses an optionally signed decimal of n bytes; *ok is 0 when it
 * is not one. */
static inline long long wh_atoi(const char *s, int n, int *ok) {
  long long v = 0;
  int i = 0, neg = 0;
  *ok = 0;
  if (n > 0 && s[0] == '-') neg = 1, i = 1;
  if (i >= n) return 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  *ok = 1;
  return neg ? -v : v;
}

/* Little-endian 64-bit integers in byte buffers (the layout of i64.store). */
static inline long long wh_load64(const void *p) {
  const unsigned char *b = p;
  unsigned long long v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
  return (long long)v;
}

static inline void wh_store64(void *p, long long v) {
  unsigned char *b = p;
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((unsigned long long)v >> (8 * i));
}

/* The bytes convention. A bytes function has the type
 *   unsigned long long f(unsigned char *in, int len)
 * and returns wh_bytes(out, out_len): the host copies the input to memory it
 * got from the module's alloc export and copies the result out after f
 * returns. WASMHOT_ALLOC defines that alloc export on a bump arena above the
 * data and stack (__heap_base) that every alloc resets: what a bytes
 * function allocates with wh_arena_alloc lives until the next bytes call. */
static inline unsigned long long wh_bytes(const void *p, int len) {
  return (unsigned long long)(unsigned long)p << 32 | (unsigned)len;
}

extern unsigned char __heap_base;
static unsigned long wh_arena_top;

/* wh_arena_alloc returns n bytes (8-aligned) of the arena, growing memory
 * as needed; 0 when memory cannot grow. */
static inline void *wh_arena_alloc(int n) {
  unsigned long base = (unsigned long)&__heap_base;
  if (wh_arena_top < base) wh_arena_top = base;
  unsigned long p = (wh_arena_top + 7) & ~7UL;
  unsigned long end = p + (unsigned long)n;
  unsigned long have = __builtin_wasm_memory_size(0) * 65536UL;
  if (end > have) {
    unsigned long pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (unsigned long)-1) return 0;
  }
  wh_arena_top = end;
  return (void *)p;
}

static inline void wh_arena_reset(void) { wh_arena_top = (unsigned long)&__heap_base; }

/* wh_receive_trunc is receive for messages of bounded size: it takes the
 * first message and copies at most cap bytes of it to buf, and returns its
 * whole length (which may exceed cap) or WH_TIMEOUT. A message larger than
 * cap is taken through the arena (so it does not stay first) and cut. */
static inline int wh_receive_trunc(void *buf, int cap, int timeout_ms) {
  int n = wh_receive(buf, cap, timeout_ms);
  if (n > cap) {
    unsigned long top = wh_arena_top;
    unsigned char *big = wh_arena_alloc(n);
    if (big) {
      wh_receive(big, n, 0);
      wh_copy(buf, big, cap);
    }
    wh_arena_top = top;
  }
  return n;
}

#define WASMHOT_ALLOC                                      \
  WH_EXPORT("alloc") void *wh_alloc_export(int n) {        \
    wh_arena_reset();                                      \
    return wh_arena_alloc(n);                              \
  }

/* ---- A gen_server (docs/guests.md, "Writing a server") ----
 *
 * A server is a few callbacks in a wh_server and one line,
 * WH_SERVER("server", srv), which exports the entry point "server" (spawn
 * it with its argument as state) and code_change of ABI v2, so that the
 * host can move the process to a new version from outside (wasmhot
 * suspend / change-code / resume). The guest must also say WASMHOT_ALLOC.
 *
 * The state is bytes (at most WH_STATE_MAX), changed in place by the
 * callbacks and saved with set_state after every message: each receive of
 * the loop is where a code change may happen. Messages over WH_MSG_MAX
 * bytes are cut. The wire format is the Go SDK's (guest/server): a Go
 * client calls a C server and the other way round. */
#define WH_STATE_MAX 4096
#define WH_MSG_MAX 4096
#define WH_NOREPLY (-1000) /* handle_call: no reply now; wh_reply later */

typedef struct {
  wh_pid pid;
  long long ref;
} wh_from;

typedef struct {
  /* init: the first state, written to st (cap bytes), from the spawn
   * argument; its length, or < 0 to fail (the process traps). NULL: the
   * argument is the state. */
  int (*init)(const void *arg, int arg_len, void *st, int cap);
  /* handle_call: answer req. The state st (*st_len bytes, up to
   * WH_STATE_MAX) may be changed in place. Write the reply to reply (up
   * to reply_cap bytes) and return its length, or WH_NOREPLY. */
  int (*handle_call)(const void *req, int len, wh_from from, void *st, int *st_len, void *reply, int reply_cap);
  /* handle_cast, handle_info: a cast, any other message. */
  void (*handle_cast)(const void *msg, int len, void *st, int *st_len);
  void (*handle_info)(const void *msg, int len, void *st, int *st_len);
  /* code_change runs in the new version: old_vsn is the old version's vsn
   * tag, extra the bytes of ChangeCode; st may be changed in place (up to
   * WH_STATE_MAX). Return 0 to accept, or nonzero and set *reason to
   * refuse (the process stays in its old version and old state). NULL:
   * accept, state unchanged. */
  int (*code_change)(const char *old_vsn, int old_len, void *st, int *st_len, const void *extra, int extra_len,
                     const char **reason);
  /* terminate: the server stops (wh_server_stop). */
  void (*terminate)(const char *reason, void *st, int st_len);
} wh_server;

#define WH_MAGIC "\xffWH1"
#define WH_STATE_TAG "WHS1"

static const char *wh_stop_reason;

/* wh_server_stop ends the server after the running callback. */
static inline void wh_server_stop(const char *reason) { wh_stop_reason = reason ? reason : "normal"; }

static inline int wh_is_frame(const unsigned char *m, int n) {
  return n > 4 && m[0] == 0xff && m[1] == 'W' && m[2] == 'H' && m[3] == '1';
}

static unsigned char wh_frame_buf[13 + WH_MSG_MAX];

/* wh_reply answers the call from (for a handle_call that returned
 * WH_NOREPLY). */
static inline void wh_reply(wh_from from, const void *reply, int len) {
  if (len > WH_MSG_MAX) len = WH_MSG_MAX;
  wh_copy(wh_frame_buf, WH_MAGIC, 4);
  wh_frame_buf[4] = 'r';
  wh_store64(wh_frame_buf + 5, from.ref);
  wh_copy(wh_frame_buf + 13, reply, len);
  wh_send(from.pid, wh_frame_buf, 13 + len);
}

/* wh_cast sends msg to the server pid without waiting; 0 or a wh_send code. */
static inline int wh_cast(wh_pid pid, const void *msg, int len) {
  if (len > WH_MSG_MAX) return WH_BADARG;
  wh_copy(wh_frame_buf, WH_MAGIC, 4);
  wh_frame_buf[4] = 's';
  wh_copy(wh_frame_buf + 5, msg, len);
  return wh_send(pid, wh_frame_buf, 5 + len);
}

/* Messages that arrive while wh_call waits, for the server loop (or
 * wh_next) to take first: up to WH_STASH of them; more are dropped. */
#define WH_STASH 8
static unsigned char wh_stash[WH_STASH][WH_MSG_MAX];
static int wh_stash_len[WH_STASH], wh_stash_head, wh_stash_n;
static long long wh_next_ref;

/* wh_next is receive that takes the stashed messages first. */
static inline int wh_next(void *buf, int cap, int timeout_ms) {
  if (wh_stash_n > 0) {
    int n = wh_stash_len[wh_stash_head];
    wh_copy(buf, wh_stash[wh_stash_head], n < cap ? n : cap);
    wh_stash_head = (wh_stash_head + 1) % WH_STASH;
    wh_stash_n--;
    return n;
  }
  return wh_receive_trunc(buf, cap, timeout_ms);
}

/* wh_call calls the server pid with req and waits for its reply (each
 * wait at most timeout_ms, WH_FOREVER: no limit); the reply's length,
 * copied to reply up to cap; WH_TIMEOUT, or a wh_send code. A late reply
 * to an earlier call is dropped. */
static inline int wh_call(wh_pid pid, const void *req, int len, void *reply, int cap, int timeout_ms) {
  static unsigned char m[21 + WH_MSG_MAX];
  if (len > WH_MSG_MAX) return WH_BADARG;
  long long ref = ++wh_next_ref;
  wh_copy(m, WH_MAGIC, 4);
  m[4] = 'c';
  wh_store64(m + 5, wh_self());
  wh_store64(m + 13, ref);
  wh_copy(m + 21, req, len);
  int rc = wh_send(pid, m, 21 + len);
  if (rc != 0) return rc;
  for (;;) {
    int n = wh_receive_trunc(m, 21 + WH_MSG_MAX, timeout_ms);
    if (n < 0) return n;
    if (n > 21 + WH_MSG_MAX) n = 21 + WH_MSG_MAX;
    if (wh_is_frame(m, n) && m[4] == 'r') {
      if (n >= 13 && wh_load64(m + 5) == ref) {
        int rl = n - 13;
        wh_copy(reply, m + 13, rl < cap ? rl : cap);
        return rl;
      }
      continue; /* late reply */
    }
    if (wh_stash_n < WH_STASH && n <= WH_MSG_MAX) {
      int i = (wh_stash_head + wh_stash_n) % WH_STASH;
      wh_copy(wh_stash[i], m, n);
      wh_stash_len[i] = n;
      wh_stash_n++;
    }
  }
}

static unsigned char wh_srv_st[4 + WH_STATE_MAX];

static inline void wh_server_save(int len) {
  wh_copy(wh_srv_st, WH_STATE_TAG, 4);
  wh_set_state(wh_srv_st, 4 + len);
}

/* wh_server_load reads the saved state into wh_srv_st + 4: its length, or
 * -1 when there is none (the first run: the argument is in wh_srv_st). */
static inline int wh_server_load(int *raw) {
  int n = wh_state(wh_srv_st, sizeof wh_srv_st);
  *raw = n <= (int)sizeof wh_srv_st ? n : 0;
  if (n >= 4 && n <= (int)sizeof wh_srv_st && wh_srv_st[0] == 'W' && wh_srv_st[1] == 'H' && wh_srv_st[2] == 'S' &&
      wh_srv_st[3] == '1')
    return n - 4;
  return -1;
}

/* wh_server_run is the server loop: until wh_server_stop. */
static inline void wh_server_run(const wh_server *s) {
  static unsigned char arg[WH_STATE_MAX], msg[WH_MSG_MAX];
  int raw, len = wh_server_load(&raw);
  if (len < 0) {
    if (raw > WH_STATE_MAX) raw = WH_STATE_MAX;
    wh_copy(arg, wh_srv_st, raw);
    if (s->init) {
      len = s->init(arg, raw, wh_srv_st + 4, WH_STATE_MAX);
      if (len < 0) __builtin_trap();
    } else {
      wh_copy(wh_srv_st + 4, arg, raw);
      len = raw;
    }
    wh_server_save(len);
  }
  unsigned char *st = wh_srv_st + 4;
  for (;;) {
    int n = wh_next(msg, WH_MSG_MAX, WH_FOREVER);
    if (n < 0) continue;
    if (n > WH_MSG_MAX) n = WH_MSG_MAX;
    if (wh_is_frame(msg, n) && msg[4] == 'c' && n >= 21) {
      wh_from from = {wh_load64(msg + 5), wh_load64(msg + 13)};
      int rl = s->handle_call(msg + 21, n - 21, from, st, &len, wh_frame_buf + 13, WH_MSG_MAX);
      if (rl >= 0) {
        wh_copy(wh_frame_buf, WH_MAGIC, 4);
        wh_frame_buf[4] = 'r';
        wh_store64(wh_frame_buf + 5, from.ref);
        wh_send(from.pid, wh_frame_buf, 13 + rl);
      }
    } else if (wh_is_frame(msg, n) && msg[4] == 's') {
      if (s->handle_cast) s->handle_cast(msg + 5, n - 5, st, &len);
    } else if (wh_is_frame(msg, n) && msg[4] == 'r') {
      continue; /* a reply that came too late for its call */
    } else if (s->handle_info) {
      s->handle_info(msg, n, st, &len);
    }
    wh_server_save(len);
    if (wh_stop_reason) {
      if (s->terminate) s->terminate(wh_stop_reason, st, len);
      return;
    }
  }
}

/* wh_server_code_change is code_change of ABI v2 for the server s. */
static inline unsigned long long wh_server_code_change(const wh_server *s, const char *from, int from_len,
                                                       const void *extra, int extra_len) {
  int raw, len = wh_server_load(&raw);
  if (len < 0) return wh_bytes("no saved server state", 21);
  if (!s->code_change) return 0;
  const char *reason = "refused";
  if (s->code_change(from, from_len, wh_srv_st + 4, &len, extra, extra_len, &reason) != 0) {
    return wh_bytes(reason, wh_strlen(reason));
  }
  wh_server_save(len);
  return 0;
}

/* WH_SERVER("entry", srv) exports the server's entry point and its
 * code_change. */
#define WH_SERVER(entry, srv)                                                                          \
  WH_EXPORT(entry) void wh_server_entry_(void) { wh_server_run(&(srv)); }                           \
  WH_EXPORT("code_change") unsigned long long wh_server_code_change_(const char *f, int fl, const void *e, int el) { \
    return wh_server_code_change(&(srv), f, fl, e, el);                                              \
  }

#endif
