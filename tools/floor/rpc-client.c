/*
 * Health and Route calls over pelletd's Unix socket from a blocking C client: the server's
 * share of a call without an async client runtime in the way (pellet-load's PelletClient adds a
 * task hop and an event-loop hop per call, which hide the server's cost at one call in flight and
 * cap what it can send at 64 in flight on two shared cores).
 *
 * Frames (DESIGN.md) and the request messages are built by hand: a RouteRequest with the key, one
 * user message and max_tokens 256; an empty HealthRequest. Each connection runs on its own thread
 * and keeps IN_FLIGHT / CONNECTIONS calls outstanding, sending a new call for each answer (one
 * write per read). After 0.5 s of warm-up it measures for SECONDS and prints one JSON line:
 * p50/p99/mean round trip in µs at one call in flight, calls/s otherwise; `errors` counts answers
 * whose status is not OK.
 *
 * Build: cc -O2 -pthread -o rpc-client rpc-client.c
 * Usage: rpc-client SOCKET_PATH health|route API_KEY SECONDS IN_FLIGHT CONNECTIONS
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path, *method_name, *api_key;
static double seconds;
static int in_flight, connections;
static unsigned char payload[1024];
static size_t payload_len;
static int method_num, frame_type;

static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }

static size_t put_varint(unsigned char *p, uint64_t v) { size_t n = 0; while (v >= 0x80) { p[n++] = (v & 0x7f) | 0x80; v >>= 7; } p[n++] = v; return n; }
static size_t put_bytes(unsigned char *p, int field, const void *b, size_t len) { size_t n = put_varint(p, (field << 3) | 2); n += put_varint(p + n, len); memcpy(p + n, b, len); return n + len; }

static void build_payload(void) {
    unsigned char cred[256], msg[512];
    size_t cl = put_bytes(cred, 1, api_key, strlen(api_key));
    if (strcmp(method_name, "health") == 0) { method_num = 5; frame_type = 1; payload_len = 0; return; }
    if (strcmp(method_name, "route") != 0) { fprintf(stderr, "rpc-client: the method is health or route\n"); exit(2); }
    method_num = 1; frame_type = 1;
    const char *prompt = "Write a Python function that reverses a singly linked list in place and explain its complexity.";
    size_t ml = put_bytes(msg, 1, "user", 4); ml += put_bytes(msg + ml, 2, prompt, strlen(prompt));
    size_t n = put_bytes(payload, 1, cred, cl); n += put_bytes(payload + n, 2, msg, ml);
    n += put_varint(payload + n, (5 << 3) | 0); n += put_varint(payload + n, 256);
    payload_len = n;
}

static size_t frame(unsigned char *out, uint32_t stream) {
    uint32_t len = payload_len;
    out[0] = len >> 24; out[1] = len >> 16; out[2] = len >> 8; out[3] = len;
    out[4] = frame_type; out[5] = 0; out[6] = method_num >> 8; out[7] = method_num;
    out[8] = stream >> 24; out[9] = stream >> 16; out[10] = stream >> 8; out[11] = stream;
    memset(out + 12, 0, 4);
    memcpy(out + 16, payload, payload_len);
    return 16 + payload_len;
}

static int connect_unix(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, sock_path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    unsigned char pre[4] = { 0x50, 0x4C, 0x54, 1 };
    write(fd, pre, 4);
    unsigned char got[4]; size_t have = 0;
    while (have < 4) { ssize_t r = read(fd, got + have, 4 - have); if (r <= 0) { perror("preface"); exit(1); } have += r; }
    return fd;
}

struct conn { int fd; long calls; long errors; double *samples; long nsamples; };
static volatile int stop;

static void *run(void *arg) {
    struct conn *c = arg;
    static __thread unsigned char in[1 << 20];
    unsigned char out[1 << 16];
    size_t have = 0, start = 0;
    uint32_t stream = 1;
    size_t o = 0;
    int per = in_flight / connections;
    if (per < 1) per = 1;
    double t0 = 0;
    for (int i = 0; i < per; i++) { o += frame(out + o, stream); stream += 2; }
    t0 = now_us();
    write(c->fd, out, o);
    while (!stop) {
        ssize_t r = read(c->fd, in + have, sizeof in - have);
        if (r <= 0) { perror("read"); exit(1); }
        have += r;
        o = 0;
        while (have - start >= 16) {
            unsigned char *h = in + start;
            uint32_t len = (h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
            if (have - start < 16 + len) break;
            uint32_t status = (h[12] << 24) | (h[13] << 16) | (h[14] << 8) | h[15];
            if (status != 0) c->errors++;
            c->calls++;
            start += 16 + len;
            if (per == 1) { double t1 = now_us(); if (c->nsamples < 4000000) c->samples[c->nsamples++] = t1 - t0; t0 = t1; }
            o += frame(out + o, stream); stream += 2; if (stream > 2000000000) stream = 1;
        }
        if (start == have) { have = start = 0; }
        else if (start > sizeof in / 2) { memmove(in, in + start, have - start); have -= start; start = 0; }
        if (o) { if (per == 1) t0 = now_us(); write(c->fd, out, o); }
    }
    return NULL;
}

static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: rpc-client SOCKET_PATH health|route API_KEY SECONDS IN_FLIGHT CONNECTIONS\n"); return 2; }
    sock_path = argv[1]; method_name = argv[2]; api_key = argv[3]; seconds = atof(argv[4]);
    in_flight = atoi(argv[5]); connections = atoi(argv[6]);
    build_payload();
    struct conn *cs = calloc(connections, sizeof *cs);
    pthread_t *ts = calloc(connections, sizeof *ts);
    for (int i = 0; i < connections; i++) { cs[i].fd = connect_unix(); cs[i].samples = malloc(sizeof(double) * 4000000); }
    for (int i = 0; i < connections; i++) pthread_create(&ts[i], NULL, run, &cs[i]);
    /* warm-up 0.5 s, then measure */
    usleep(500000);
    long c0 = 0, e0 = 0; long s0[64];
    for (int i = 0; i < connections; i++) { c0 += cs[i].calls; e0 += cs[i].errors; s0[i] = cs[i].nsamples; }
    double t0 = now_us();
    usleep((useconds_t)(seconds * 1e6));
    double t1 = now_us();
    long c1 = 0, e1 = 0;
    for (int i = 0; i < connections; i++) { c1 += cs[i].calls; e1 += cs[i].errors; }
    long s1 = cs[0].nsamples;
    stop = 1;
    double rate = (c1 - c0) / ((t1 - t0) / 1e6);
    if (in_flight == 1) {
        long n = s1 - s0[0];
        double *s = cs[0].samples + s0[0];
        qsort(s, n, sizeof *s, cmp);
        double sum = 0; for (long i = 0; i < n; i++) sum += s[i];
        printf("{\"method\":\"%s\",\"calls\":%ld,\"errors\":%ld,\"rate\":%.0f,\"p50\":%.1f,\"p99\":%.1f,\"mean\":%.1f}\n",
               method_name, n, e1 - e0, rate, s[n / 2], s[(long)(n * 0.99)], sum / n);
    } else {
        printf("{\"method\":\"%s\",\"calls\":%ld,\"errors\":%ld,\"rate\":%.0f}\n", method_name, c1 - c0, e1 - e0, rate);
    }
    fflush(stdout);
    _exit(0);
}
