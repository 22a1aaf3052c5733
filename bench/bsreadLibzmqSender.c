/*
 * bsread-libzmq-sender: a bsread stream written with libzmq alone, to check daqflow against a
 * sender that shares none of its code (bench/README.md, "The libzmq sender").
 *
 * Build: gcc -O2 -std=c11 -Wall -Wextra -o bsread-libzmq-sender bench/bsreadLibzmqSender.c -lzmq
 * (Debian: apt-get install gcc libzmq3-dev), or let bench/buildSender.ts do it.
 *
 * Every message is the bsread wire format of docs/acquisitions.md and
 * adapters/bsread/bsreadCodec.ts: a main header (bsr_m-1.1, pulse_id, global_timestamp, hash),
 * a data header (bsr_d-1.1), then one value part and one 16-byte timestamp part per channel,
 * all little-endian and uncompressed.
 *
 * What it sends is a pure function of (pulse id, channel), so that a reader can check every row:
 * - scalars: channel i is float64, value pulse_id * 1000 + i (exact while below 2^53; checked
 *   before the first send);
 * - image: one uint16 channel of bsread shape [W, H] (HDF5 (H, W)); pixels 0..3 are the pulse id
 *   in 16-bit words, least significant first; pixel k >= 4 is (k * 7919 + 17) mod 65536;
 * - every channel's timestamp is the pulse's global timestamp: the scheduled send time, on the
 *   real-time clock, of that pulse.
 *
 * Pacing is an absolute schedule: pulse n is due at start + n / rate (clock_nanosleep with
 * TIMER_ABSTIME), so a late send is followed by catching up, never by a slower stream. PUSH blocks
 * by default when no peer can take a message: the summary counts late sends and stalled sends.
 * With --on-full drop, PUSH behaves as a source that cannot wait (an IOC, a camera on the
 * machine's clock): a message the send queue has no room for is dropped and counted. PUB never
 * blocks: with ZMQ_XPUB_NODROP a message a subscriber's queue has no room for fails with EAGAIN,
 * and is counted as dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

#define NS_PER_S ((int64_t)1000000000)
/* Above this, a float64 no longer holds every integer: scalar values would not be exact. */
#define EXACT_DOUBLE_MAX 9007199254740992.0
/* Images handed to libzmq without a copy: as many as its send queue holds (the HWM) and this
 * many more for the ones being written to the socket. A pool smaller than the queue (16 images
 * before) made the sender copy every image into new memory once the queue held more than 16: on
 * the bench's VM that copy costs ~7 ms (new pages), more than the 3.3 ms between two images at
 * 300 Hz, so a reader a mere 50 ms behind made the sender itself late, then burst, then drop.
 * When every buffer is still queued all the same, a send copies (counted as copiedFrames). */
#define FRAME_POOL_EXTRA 8

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { stop_requested = sig; }

struct options {
  const char *mode;
  const char *bind;
  double rate;
  int scalars;
  int width, height;
  bool image;
  bool time_ids;
  uint64_t start_pulse;
  uint64_t pulses;
  double seconds;
  int sndhwm;
  bool header_once;
  bool drop_when_full;
  double wait_peer_s;
  int linger_ms;
  double max_stall_s;
  const char *prefix;
};

static void usage(FILE *to) {
  fprintf(to,
          "usage: bsread-libzmq-sender [--mode push|pub] [--bind tcp://127.0.0.1:9999] [--rate HZ]\n"
          "         (--scalars N | --image WxH) [--start-pulse N|time] (--pulses N | --seconds S)\n"
          "         [--sndhwm N] [--on-full block|drop] [--data-header every|once] [--wait-peer S]\n"
          "         [--max-stall S] [--linger-ms MS] [--prefix NAME]\n"
          "Sends a bsread stream over ZeroMQ on an absolute schedule; prints one JSON summary line at the end.\n"
          "Values: scalar i of pulse p = p * 1000 + i; image pixels 0..3 = p in 16-bit words (low first),\n"
          "pixel k >= 4 = (k * 7919 + 17) mod 65536. --start-pulse time: ids count RATE per second since the\n"
          "Unix epoch, each sent at its own time. Defaults: push, tcp://127.0.0.1:9999, 100 Hz, --scalars 200,\n"
          "start pulse 1000000, --seconds 10, --on-full block (PUB: drop), --max-stall 30, --data-header every, send HWM\n"
          "from the message size (about 256 MiB of queue, at most 1000 messages).\n");
}

static void die(const char *what) {
  fprintf(stderr, "bsread-libzmq-sender: %s\n", what);
  exit(2);
}

static uint64_t parse_u64(const char *flag, const char *text) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
    fprintf(stderr, "bsread-libzmq-sender: %s %s: expected a whole number\n", flag, text);
    exit(2);
  }
  return (uint64_t)v;
}

static double parse_positive(const char *flag, const char *text) {
  char *end = NULL;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || !(v > 0) || !isfinite(v)) {
    fprintf(stderr, "bsread-libzmq-sender: %s %s: expected a positive number\n", flag, text);
    exit(2);
  }
  return v;
}

static struct options parse_args(int argc, char **argv) {
  struct options o = {.mode = "push", .bind = "tcp://127.0.0.1:9999", .rate = 100, .scalars = 200, .start_pulse = 1000000,
                      .seconds = 10, .linger_ms = 2000, .max_stall_s = 30, .prefix = "SENDER"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "bsread-libzmq-sender: %s needs a value\n", a);
      usage(stderr);
      exit(2);
    }
    const char *v = argv[++i];
    if (strcmp(a, "--mode") == 0) {
      if (strcmp(v, "push") != 0 && strcmp(v, "pub") != 0) die("--mode: push or pub");
      o.mode = v;
    } else if (strcmp(a, "--bind") == 0) {
      o.bind = v;
    } else if (strcmp(a, "--rate") == 0) {
      o.rate = parse_positive(a, v);
    } else if (strcmp(a, "--scalars") == 0) {
      uint64_t n = parse_u64(a, v);
      if (n < 1 || n > 100000) die("--scalars: 1 to 100000 channels");
      o.scalars = (int)n;
      o.image = false;
    } else if (strcmp(a, "--image") == 0) {
      if (sscanf(v, "%dx%d", &o.width, &o.height) != 2 || o.width < 1 || o.height < 1 || (int64_t)o.width * o.height < 4 ||
          (int64_t)o.width * o.height > (1LL << 28))
        die("--image: WxH, e.g. 1024x1280, at least 4 pixels");
      o.image = true;
    } else if (strcmp(a, "--start-pulse") == 0) {
      if (strcmp(v, "time") == 0) o.time_ids = true;
      else o.start_pulse = parse_u64(a, v), o.time_ids = false;
    } else if (strcmp(a, "--pulses") == 0) {
      o.pulses = parse_u64(a, v);
      if (o.pulses == 0) die("--pulses: at least 1");
      o.seconds = 0;
    } else if (strcmp(a, "--seconds") == 0) {
      o.seconds = parse_positive(a, v);
      o.pulses = 0;
    } else if (strcmp(a, "--sndhwm") == 0) {
      o.sndhwm = (int)parse_u64(a, v);
    } else if (strcmp(a, "--data-header") == 0) {
      if (strcmp(v, "every") != 0 && strcmp(v, "once") != 0) die("--data-header: every or once");
      o.header_once = strcmp(v, "once") == 0;
    } else if (strcmp(a, "--on-full") == 0) {
      if (strcmp(v, "block") != 0 && strcmp(v, "drop") != 0) die("--on-full: block or drop");
      o.drop_when_full = strcmp(v, "drop") == 0;
    } else if (strcmp(a, "--max-stall") == 0) {
      o.max_stall_s = parse_positive(a, v);
    } else if (strcmp(a, "--wait-peer") == 0) {
      o.wait_peer_s = parse_positive(a, v);
    } else if (strcmp(a, "--linger-ms") == 0) {
      o.linger_ms = (int)parse_u64(a, v);
    } else if (strcmp(a, "--prefix") == 0) {
      o.prefix = v;
    } else {
      fprintf(stderr, "bsread-libzmq-sender: unknown option %s\n", a);
      usage(stderr);
      exit(2);
    }
  }
  return o;
}

static int64_t now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (int64_t)t.tv_sec * NS_PER_S + t.tv_nsec;
}

static struct timespec to_timespec(int64_t ns) {
  struct timespec t = {.tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S};
  return t;
}

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

/* MD5 (RFC 1321) of the data header: bsread names a header by it. Receivers only compare it, but
 * a reader that checks it (bsread's spec allows) must find it right. */
static uint32_t rotl(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

static void md5_block(uint32_t h[4], const unsigned char *block) {
  static const int shifts[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
  uint32_t m[16];
  for (int i = 0; i < 16; i++)
    m[i] = (uint32_t)block[4 * i] | (uint32_t)block[4 * i + 1] << 8 | (uint32_t)block[4 * i + 2] << 16 | (uint32_t)block[4 * i + 3] << 24;
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) f = (b & c) | (~b & d), g = i;
    else if (i < 32) f = (d & b) | (~d & c), g = (5 * i + 1) % 16;
    else if (i < 48) f = b ^ c ^ d, g = (3 * i + 5) % 16;
    else f = c ^ (b | ~d), g = (7 * i) % 16;
    /* The RFC's table: floor(abs(sin(i + 1)) * 2^32). */
    uint32_t k = (uint32_t)(fabs(sin((double)(i + 1))) * 4294967296.0);
    uint32_t next = b + rotl(a + f + k + m[g], shifts[i]);
    a = d, d = c, c = b, b = next;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

static void md5_hex(const unsigned char *bytes, size_t len, char out[33]) {
  uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  size_t full = len / 64 * 64;
  for (size_t at = 0; at < full; at += 64) md5_block(h, bytes + at);
  unsigned char tail[128] = {0};
  size_t rest = len - full;
  memcpy(tail, bytes + full, rest);
  tail[rest] = 0x80;
  size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) tail[tail_len - 8 + i] = (unsigned char)(bits >> (8 * i));
  for (size_t at = 0; at < tail_len; at += 64) md5_block(h, tail + at);
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", (h[i / 4] >> (8 * (i % 4))) & 0xff);
}

static char *build_data_header(const struct options *o) {
  size_t cap = 256 + (size_t)(o->image ? 1 : o->scalars) * (strlen(o->prefix) + 128);
  char *h = malloc(cap);
  if (h == NULL) die("out of memory");
  size_t n = (size_t)snprintf(h, cap, "{\"htype\":\"bsr_d-1.1\",\"channels\":[");
  if (o->image) {
    n += (size_t)snprintf(h + n, cap - n,
                          "{\"name\":\"%s:IMAGE\",\"type\":\"uint16\",\"shape\":[%d,%d],\"encoding\":\"little\",\"compression\":\"none\"}",
                          o->prefix, o->width, o->height);
  } else {
    for (int i = 0; i < o->scalars; i++) {
      n += (size_t)snprintf(h + n, cap - n,
                            "%s{\"name\":\"%s:SCALAR:%03d\",\"type\":\"float64\",\"shape\":[1],\"encoding\":\"little\",\"compression\":\"none\"}",
                            i == 0 ? "" : ",", o->prefix, i);
    }
  }
  snprintf(h + n, cap - n, "]}");
  return h;
}

static void put_u64le(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

struct frame {
  uint16_t *pixels;
  atomic_int queued;
};

/* libzmq calls this from its I/O thread once the frame has left the socket. */
static void frame_sent(void *data, void *hint) {
  (void)data;
  atomic_store(&((struct frame *)hint)->queued, 0);
}

static void fill_pattern(uint16_t *pixels, size_t count) {
  for (size_t k = 4; k < count; k++) pixels[k] = (uint16_t)((uint32_t)k * 7919u + 17u);
}

static void stamp_pulse(uint16_t *pixels, uint64_t pulse) {
  for (int w = 0; w < 4; w++) pixels[w] = (uint16_t)(pulse >> (16 * w));
}

/* One part: retried when a signal interrupts it, since a message cut in the middle would be
 * neither sent nor cleanly dropped. */
static int send_part(void *socket, const void *bytes, size_t size, int flags) {
  for (;;) {
    if (zmq_send(socket, bytes, size, flags) >= 0) return 0;
    if (errno != EINTR) return -1;
  }
}

int main(int argc, char **argv) {
  struct options o = parse_args(argc, argv);
  bool pub = strcmp(o.mode, "pub") == 0;
  size_t pixels = o.image ? (size_t)o.width * (size_t)o.height : 0;
  size_t image_bytes = pixels * 2;

  char *data_header = build_data_header(&o);
  size_t data_header_len = strlen(data_header);
  char hash[33];
  md5_hex((const unsigned char *)data_header, data_header_len, hash);

  size_t message_bytes = 200 + data_header_len + (o.image ? image_bytes + 16 : (size_t)o.scalars * 24);
  /* A queue of about 256 MiB at most (a 2.6 MB image: ~100), and no more than libzmq's 1,000 messages. */
  int hwm = o.sndhwm > 0 ? o.sndhwm : (int)fmax(4, fmin(1000, (256.0 * 1024 * 1024) / (double)message_bytes));

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: the sleep and a blocked send return EINTR, so a signal ends the run at once. */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  void *ctx = zmq_ctx_new();
  void *socket = zmq_socket(ctx, pub ? ZMQ_XPUB : ZMQ_PUSH);
  if (socket == NULL) die(zmq_strerror(errno));
  zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
  /* A blocked PUSH whose peer went away would wait for ever: the run ends after --max-stall. */
  int send_timeout = (int)(o.max_stall_s * 1000);
  zmq_setsockopt(socket, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout);
  if (pub) {
    /* PUB cannot wait for a subscriber: it drops, and this says how often. */
    o.drop_when_full = true;
    int one = 1;
    zmq_setsockopt(socket, ZMQ_XPUB_NODROP, &one, sizeof one);
  }
  if (zmq_bind(socket, o.bind) != 0) {
    fprintf(stderr, "bsread-libzmq-sender: bind %s: %s\n", o.bind, zmq_strerror(errno));
    return 2;
  }
  char endpoint[256] = "";
  size_t endpoint_len = sizeof endpoint;
  zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len);

  /* Buffers filled once: a pulse only rewrites its pulse id, values and timestamp. */
  struct frame *pool = NULL;
  uint16_t *copy_frame = NULL;
  double *values = NULL;
  int pool_size = 0;
  if (o.image) {
    pool_size = hwm + FRAME_POOL_EXTRA;
    pool = calloc((size_t)pool_size, sizeof *pool);
    if (pool == NULL) die("out of memory for the image buffers");
    for (int f = 0; f < pool_size; f++) {
      pool[f].pixels = malloc(image_bytes);
      if (pool[f].pixels == NULL) die("out of memory for the image buffers");
      fill_pattern(pool[f].pixels, pixels);
      atomic_init(&pool[f].queued, 0);
    }
    copy_frame = malloc(image_bytes);
    if (copy_frame == NULL) die("out of memory for the image buffers");
    fill_pattern(copy_frame, pixels);
  } else {
    values = malloc(sizeof(double) * (size_t)o.scalars);
    if (values == NULL) die("out of memory");
  }

  fprintf(stderr, "bsread-libzmq-sender: %s bound to %s, %s, %g Hz, send HWM %d, message %zu bytes\n", o.mode, endpoint,
          o.image ? "image" : "scalars", o.rate, hwm, message_bytes);

  const char *stopped_by = NULL;
  if (o.wait_peer_s > 0) {
    /* PUSH can send once a peer's pipe is attached; XPUB hears each subscription. */
    int64_t give_up = now_ns(CLOCK_MONOTONIC) + (int64_t)(o.wait_peer_s * NS_PER_S);
    bool ready = false;
    while (!ready && !stop_requested && now_ns(CLOCK_MONOTONIC) < give_up) {
      zmq_pollitem_t item = {.socket = socket, .events = pub ? ZMQ_POLLIN : ZMQ_POLLOUT};
      int rc = zmq_poll(&item, 1, 100);
      if (rc > 0 && pub) {
        char sub[256];
        int n = zmq_recv(socket, sub, sizeof sub, ZMQ_DONTWAIT);
        ready = n > 0 && sub[0] == 1;
      } else if (rc > 0) {
        ready = true;
      }
    }
    if (!ready) stopped_by = stop_requested ? "signal" : "no-peer";
  }

  /* The schedule. With time-based ids the first pulse is the next whole 1/rate of the real-time
   * clock, and the monotonic schedule is laid on it, so that pulse p goes out at time p / rate. */
  int64_t mono0 = now_ns(CLOCK_MONOTONIC);
  int64_t real0 = now_ns(CLOCK_REALTIME);
  uint64_t first = o.start_pulse;
  if (o.time_ids) {
    long double t = (long double)real0 / NS_PER_S;
    first = (uint64_t)floorl(t * o.rate) + 1;
    int64_t first_real = (int64_t)((long double)first / o.rate * NS_PER_S);
    mono0 += first_real - real0;
    real0 = first_real;
  }
  uint64_t planned = o.pulses > 0 ? o.pulses : (uint64_t)ceil(o.seconds * o.rate);
  if (!o.image && (long double)(first + planned) * 1000.0L + o.scalars >= EXACT_DOUBLE_MAX) {
    fprintf(stderr, "bsread-libzmq-sender: pulse ids up to %" PRIu64 " make scalar values (id * 1000 + channel) above 2^53, not exact in float64\n",
            first + planned);
    return 2;
  }
  if (stopped_by == NULL)
    fprintf(stderr, "bsread-libzmq-sender: sending pulses %" PRIu64 "..%" PRIu64 "\n", first, first + planned - 1);

  char main_header[256];
  unsigned char stamp[16];
  uint64_t sent = 0, dropped = 0, late = 0, stalls = 0, copied = 0, last_pulse = 0;
  int64_t max_late = 0, max_stall = 0, first_send = 0, last_send = 0;
  int64_t period = (int64_t)(NS_PER_S / o.rate);
  double cpu0 = cpu_seconds();
  int next_frame = 0;
  int failure = 0;

  for (uint64_t n = 0; stopped_by == NULL && n < planned; n++) {
    int64_t due_offset = (int64_t)((long double)n * NS_PER_S / o.rate);
    struct timespec due = to_timespec(mono0 + due_offset);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR && !stop_requested) {
    }
    if (stop_requested) {
      stopped_by = "signal";
      break;
    }
    int64_t start = now_ns(CLOCK_MONOTONIC);
    int64_t lateness = start - (mono0 + due_offset);
    if (lateness > period) late++;
    if (lateness > max_late) max_late = lateness;

    uint64_t pulse = first + n;
    int64_t real = real0 + due_offset;
    int hl = snprintf(main_header, sizeof main_header,
                      "{\"htype\":\"bsr_m-1.1\",\"pulse_id\":%" PRIu64 ",\"global_timestamp\":{\"sec\":%" PRId64 ",\"ns\":%" PRId64 "},\"hash\":\"%s\"}",
                      pulse, real / NS_PER_S, real % NS_PER_S, hash);
    put_u64le(stamp, (uint64_t)(real / NS_PER_S));
    put_u64le(stamp + 8, (uint64_t)(real % NS_PER_S));

    /* The first part is where PUSH blocks and where XPUB refuses: the rest of a message never waits. */
    int rc;
    for (;;) {
      rc = zmq_send(socket, main_header, (size_t)hl, ZMQ_SNDMORE | (o.drop_when_full ? ZMQ_DONTWAIT : 0));
      if (rc >= 0 || errno != EINTR || stop_requested) break;
    }
    if (rc < 0) {
      if (errno == EAGAIN && o.drop_when_full) {
        dropped++;
        continue;
      }
      if (errno == EAGAIN) {
        stopped_by = "stalled";
        break;
      }
      if (errno == EINTR) {
        stopped_by = "signal";
        break;
      }
      fprintf(stderr, "bsread-libzmq-sender: send: %s\n", zmq_strerror(errno));
      failure = 1;
      break;
    }
    int64_t after_first = now_ns(CLOCK_MONOTONIC);
    if (after_first - start > period) stalls++;
    if (after_first - start > max_stall) max_stall = after_first - start;

    bool with_header = !o.header_once || n == 0;
    int err = send_part(socket, data_header, with_header ? data_header_len : 0, ZMQ_SNDMORE);
    if (o.image) {
      struct frame *f = NULL;
      for (int k = 0; k < pool_size && f == NULL; k++) {
        struct frame *candidate = &pool[(next_frame + k) % pool_size];
        if (atomic_load(&candidate->queued) == 0) f = candidate, next_frame = (next_frame + k + 1) % pool_size;
      }
      if (f != NULL && !err) {
        stamp_pulse(f->pixels, pulse);
        atomic_store(&f->queued, 1);
        zmq_msg_t msg;
        zmq_msg_init_data(&msg, f->pixels, image_bytes, frame_sent, f);
        while (!err && zmq_msg_send(&msg, socket, ZMQ_SNDMORE) < 0) {
          if (errno != EINTR) {
            err = -1;
            zmq_msg_close(&msg);
          }
        }
      } else {
        copied++;
        stamp_pulse(copy_frame, pulse);
        err = err || send_part(socket, copy_frame, image_bytes, ZMQ_SNDMORE);
      }
      err = err || send_part(socket, stamp, sizeof stamp, 0);
    } else {
      for (int i = 0; i < o.scalars && !err; i++) {
        values[i] = (double)pulse * 1000.0 + (double)i;
        err = send_part(socket, &values[i], sizeof(double), ZMQ_SNDMORE) || send_part(socket, stamp, sizeof stamp, i + 1 < o.scalars ? ZMQ_SNDMORE : 0);
      }
    }
    if (err) {
      fprintf(stderr, "bsread-libzmq-sender: send: %s\n", zmq_strerror(errno));
      failure = 1;
      break;
    }
    if (sent == 0) first_send = start;
    last_send = start;
    last_pulse = pulse;
    sent++;
  }
  if (stopped_by == NULL) stopped_by = failure ? "error" : o.pulses > 0 ? "pulses" : "seconds";
  double cpu = cpu_seconds() - cpu0;

  /* Queued messages still leave, for at most --linger-ms (a signal: at most a tenth of it). */
  int linger = stop_requested ? o.linger_ms / 10 : o.linger_ms;
  zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
  zmq_close(socket);
  zmq_ctx_term(ctx);

  double span = (double)(last_send - first_send) / NS_PER_S;
  printf("{\"done\":true,\"mode\":\"%s\",\"bind\":\"%s\",\"kind\":\"%s\",\"channels\":%d", o.mode, endpoint, o.image ? "image" : "scalars",
         o.image ? 1 : o.scalars);
  if (o.image) printf(",\"width\":%d,\"height\":%d", o.width, o.height);
  printf(",\"rateHz\":%g,\"sent\":%" PRIu64 ",\"firstPulseId\":%" PRIu64, o.rate, sent, first);
  if (sent > 0) printf(",\"lastPulseId\":%" PRIu64, last_pulse);
  else printf(",\"lastPulseId\":null");
  printf(",\"seconds\":%.6f,\"achievedHz\":%.1f,\"messageBytes\":%zu,\"mbPerSecond\":%.1f", span, sent > 1 && span > 0 ? (double)(sent - 1) / span : 0.0,
         message_bytes, sent > 1 && span > 0 ? (double)(sent - 1) * (double)message_bytes / span / 1e6 : 0.0);
  printf(",\"onFull\":\"%s\"", o.drop_when_full ? "drop" : "block");
  printf(",\"sndhwm\":%d,\"dropped\":%" PRIu64 ",\"late\":%" PRIu64 ",\"maxLateMs\":%.3f,\"stalls\":%" PRIu64 ",\"maxStallMs\":%.3f", hwm, dropped, late,
         (double)max_late / 1e6, stalls, (double)max_stall / 1e6);
  if (o.image) printf(",\"copiedFrames\":%" PRIu64, copied);
  printf(",\"cpuSeconds\":%.3f,\"stoppedBy\":\"%s\"}\n", cpu, stopped_by);
  fflush(stdout);
  return failure ? 1 : strcmp(stopped_by, "no-peer") == 0 ? 3 : strcmp(stopped_by, "stalled") == 0 ? 4 : 0;
}
