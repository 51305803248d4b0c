/*
 * The floor under Pellet's PING round trip: what the kernel alone costs to bounce a message the
 * size of a Pellet PING frame (16-byte header + 8-byte payload = 24 bytes) between two threads,
 * with no framing library, no event loop and no async runtime in the way.
 *
 *   (a) round trip over socketpair(AF_UNIX, SOCK_STREAM)   p50 / p99 / mean, µs
 *   (b) round trip over loopback TCP with TCP_NODELAY      p50 / p99 / mean, µs
 *   (c) pipelined messages per second over a socketpair and over loopback TCP: one thread writes
 *       batches, the other side echoes every message, a third thread reads the echoes.
 *
 * Both sides use blocking reads: the lowest-latency way to wait, and so a floor, not a target
 * (an epoll event loop such as NIO's adds a wake-up and a syscall per hop).
 *
 * Build: cc -O2 -pthread -o pingpong pingpong.c      No dependencies beyond libc.
 * Usage: pingpong [-n ROUND_TRIPS] [--warmup N] [--pipeline-messages N] [--batch N] [--json]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { HEADER_BYTES = 16, PAYLOAD_BYTES = 8, MESSAGE_BYTES = HEADER_BYTES + PAYLOAD_BYTES };
enum { TYPE_PING = 6, TYPE_PONG = 7 };

static void die(const char *what) {
    fprintf(stderr, "pingpong: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *message) {
    fprintf(stderr, "pingpong: %s\n", message);
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads exactly `count` bytes; returns 0 at end of stream before any byte, else exits on error. */
static int read_exactly(int fd, void *buffer, size_t count) {
    size_t done = 0;
    while (done < count) {
        ssize_t n = read(fd, (char *)buffer + done, count - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n == 0) {
            if (done == 0) return 0;
            fail("the peer closed in the middle of a message");
        } else if (errno != EINTR) {
            die("read");
        }
    }
    return 1;
}

static void write_exactly(int fd, const void *buffer, size_t count) {
    size_t done = 0;
    while (done < count) {
        ssize_t n = write(fd, (const char *)buffer + done, count - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            die("write");
        }
    }
}

/* A Pellet frame header (big-endian): length, type, flags, method, stream, value. */
static void make_ping(unsigned char message[MESSAGE_BYTES], uint64_t sequence) {
    memset(message, 0, MESSAGE_BYTES);
    message[3] = PAYLOAD_BYTES;
    message[4] = TYPE_PING;
    for (int i = 0; i < PAYLOAD_BYTES; i++) message[HEADER_BYTES + i] = (unsigned char)(sequence >> (8 * i));
}

/* The server side: answer each PING with a PONG carrying the same payload, until end of stream. */
static void *echo_one_by_one(void *argument) {
    int fd = *(int *)argument;
    unsigned char message[MESSAGE_BYTES];
    while (read_exactly(fd, message, MESSAGE_BYTES)) {
        message[4] = TYPE_PONG;
        write_exactly(fd, message, MESSAGE_BYTES);
    }
    return NULL;
}

/* The pipelined server side: echo whole messages from whatever arrived, keeping a partial tail. */
static void *echo_in_bulk(void *argument) {
    int fd = *(int *)argument;
    static unsigned char buffer[64 * 1024];
    size_t held = 0;
    for (;;) {
        ssize_t n = read(fd, buffer + held, sizeof buffer - held);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            die("read");
        }
        held += (size_t)n;
        size_t whole = held - held % MESSAGE_BYTES;
        for (size_t offset = 0; offset < whole; offset += MESSAGE_BYTES) buffer[offset + 4] = TYPE_PONG;
        write_exactly(fd, buffer, whole);
        memmove(buffer, buffer + whole, held - whole);
        held -= whole;
    }
    return NULL;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct latency { double p50_us, p99_us, mean_us; };

/* Nearest-rank percentile of sorted samples (the same rule as pelletctl's p50). */
static double percentile_us(const uint64_t *sorted, long count, double fraction) {
    long rank = (long)((double)count * fraction + 0.999999999);
    if (rank < 1) rank = 1;
    return (double)sorted[rank - 1] / 1000.0;
}

/* `warmup` then `round_trips` timed PING/PONG round trips from `fd`, each waiting for the last. */
static struct latency ping_pong(int fd, long warmup, long round_trips) {
    uint64_t *samples = malloc(sizeof *samples * (size_t)round_trips);
    if (!samples) fail("out of memory");
    unsigned char ping[MESSAGE_BYTES], pong[MESSAGE_BYTES];
    for (long i = 0; i < warmup + round_trips; i++) {
        make_ping(ping, (uint64_t)i);
        uint64_t start = now_ns();
        write_exactly(fd, ping, MESSAGE_BYTES);
        if (!read_exactly(fd, pong, MESSAGE_BYTES)) fail("the echo side closed early");
        uint64_t end = now_ns();
        if (pong[4] != TYPE_PONG || memcmp(ping + HEADER_BYTES, pong + HEADER_BYTES, PAYLOAD_BYTES) != 0) {
            fail("a PONG did not match its PING");
        }
        if (i >= warmup) samples[i - warmup] = end - start;
    }
    qsort(samples, (size_t)round_trips, sizeof *samples, compare_u64);
    double total = 0;
    for (long i = 0; i < round_trips; i++) total += (double)samples[i];
    struct latency result = {
        percentile_us(samples, round_trips, 0.50),
        percentile_us(samples, round_trips, 0.99),
        total / (double)round_trips / 1000.0,
    };
    free(samples);
    return result;
}

static void set_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("setsockopt TCP_NODELAY");
}

enum transport { UNIX_SOCKETPAIR, LOOPBACK_TCP };

/* Two connected stream sockets: a socketpair, or both ends of a loopback TCP connection with
 * TCP_NODELAY (as pelletd sets it). */
static void connected_pair(enum transport transport, int fds[2]) {
    if (transport == UNIX_SOCKETPAIR) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) die("socketpair");
        return;
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) die("socket");
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0; /* the kernel picks a free port */
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, length) != 0) die("bind 127.0.0.1:0");
    if (listen(listener, 1) != 0) die("listen");
    if (getsockname(listener, (struct sockaddr *)&address, &length) != 0) die("getsockname");

    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0) die("socket");
    if (connect(fds[0], (struct sockaddr *)&address, length) != 0) die("connect");
    fds[1] = accept(listener, NULL, NULL);
    if (fds[1] < 0) die("accept");
    close(listener);
    set_nodelay(fds[0]);
    set_nodelay(fds[1]);
}

static struct latency measure_round_trips(enum transport transport, long warmup, long round_trips) {
    int fds[2];
    connected_pair(transport, fds);
    pthread_t echo;
    if (pthread_create(&echo, NULL, echo_one_by_one, &fds[1]) != 0) fail("pthread_create failed");
    struct latency result = ping_pong(fds[0], warmup, round_trips);
    shutdown(fds[0], SHUT_WR);
    pthread_join(echo, NULL);
    close(fds[0]);
    close(fds[1]);
    return result;
}

struct pipeline_writer { int fd; long messages; long batch; };

static void *write_batches(void *argument) {
    struct pipeline_writer *writer = argument;
    unsigned char *buffer = malloc((size_t)writer->batch * MESSAGE_BYTES);
    if (!buffer) fail("out of memory");
    for (long sent = 0; sent < writer->messages;) {
        long count = writer->messages - sent < writer->batch ? writer->messages - sent : writer->batch;
        for (long i = 0; i < count; i++) make_ping(buffer + i * MESSAGE_BYTES, (uint64_t)(sent + i));
        write_exactly(writer->fd, buffer, (size_t)count * MESSAGE_BYTES);
        sent += count;
    }
    free(buffer);
    return NULL;
}

/* Messages echoed per second with the socket buffers kept full: the throughput ceiling. */
static double measure_pipelined(enum transport transport, long messages, long batch) {
    int fds[2];
    connected_pair(transport, fds);
    pthread_t echo, writer_thread;
    struct pipeline_writer writer = {fds[0], messages, batch};
    if (pthread_create(&echo, NULL, echo_in_bulk, &fds[1]) != 0) fail("pthread_create failed");

    uint64_t start = now_ns();
    if (pthread_create(&writer_thread, NULL, write_batches, &writer) != 0) fail("pthread_create failed");
    static unsigned char buffer[64 * 1024];
    size_t expected = (size_t)messages * MESSAGE_BYTES, received = 0;
    while (received < expected) {
        ssize_t n = read(fds[0], buffer, sizeof buffer);
        if (n == 0) fail("the echo side closed early");
        if (n < 0) {
            if (errno == EINTR) continue;
            die("read");
        }
        received += (size_t)n;
    }
    uint64_t end = now_ns();

    pthread_join(writer_thread, NULL);
    shutdown(fds[0], SHUT_WR);
    pthread_join(echo, NULL);
    close(fds[0]);
    close(fds[1]);
    return (double)messages / ((double)(end - start) / 1e9);
}

static long parse_count(const char *flag, const char *text, long minimum) {
    char *end = NULL;
    errno = 0;
    long value = text ? strtol(text, &end, 10) : 0;
    if (!text || errno != 0 || *end != '\0' || value < minimum || value > 100000000) {
        fprintf(stderr, "pingpong: %s needs a whole number from %ld to 100000000\n", flag, minimum);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv) {
    long round_trips = 20000, warmup = 1000, pipeline_messages = 1000000, batch = 64;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-n") || !strcmp(arg, "--round-trips")) {
            round_trips = parse_count(arg, i + 1 < argc ? argv[++i] : NULL, 1);
        } else if (!strcmp(arg, "--warmup")) {
            warmup = parse_count(arg, i + 1 < argc ? argv[++i] : NULL, 0);
        } else if (!strcmp(arg, "--pipeline-messages")) {
            pipeline_messages = parse_count(arg, i + 1 < argc ? argv[++i] : NULL, 1);
        } else if (!strcmp(arg, "--batch")) {
            batch = parse_count(arg, i + 1 < argc ? argv[++i] : NULL, 1);
        } else if (!strcmp(arg, "--json")) {
            json = 1;
        } else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            printf("usage: pingpong [-n ROUND_TRIPS (20000)] [--warmup N (1000)] "
                   "[--pipeline-messages N (1000000)] [--batch N (64)] [--json]\n");
            return 0;
        } else {
            fprintf(stderr, "pingpong: unknown argument '%s' (try --help)\n", arg);
            return 2;
        }
    }

    struct latency unix_rtt = measure_round_trips(UNIX_SOCKETPAIR, warmup, round_trips);
    struct latency tcp_rtt = measure_round_trips(LOOPBACK_TCP, warmup, round_trips);
    double pipelined = measure_pipelined(UNIX_SOCKETPAIR, pipeline_messages, batch);
    double tcp_pipelined = measure_pipelined(LOOPBACK_TCP, pipeline_messages, batch);

    if (json) {
        printf("{\"message_bytes\":%d,\"round_trips\":%ld,\"warmup\":%ld,"
               "\"unix_p50_us\":%.2f,\"unix_p99_us\":%.2f,\"unix_mean_us\":%.2f,"
               "\"tcp_p50_us\":%.2f,\"tcp_p99_us\":%.2f,\"tcp_mean_us\":%.2f,"
               "\"unix_pipelined_msgs_per_s\":%.0f,\"tcp_pipelined_msgs_per_s\":%.0f,\"pipeline_batch\":%ld}\n",
               MESSAGE_BYTES, round_trips, warmup, unix_rtt.p50_us, unix_rtt.p99_us, unix_rtt.mean_us,
               tcp_rtt.p50_us, tcp_rtt.p99_us, tcp_rtt.mean_us, pipelined, tcp_pipelined, batch);
    } else {
        printf("unix socketpair round trip p50   %8.2f µs\n", unix_rtt.p50_us);
        printf("unix socketpair round trip p99   %8.2f µs\n", unix_rtt.p99_us);
        printf("unix socketpair round trip mean  %8.2f µs\n", unix_rtt.mean_us);
        printf("tcp loopback round trip p50      %8.2f µs\n", tcp_rtt.p50_us);
        printf("tcp loopback round trip p99      %8.2f µs\n", tcp_rtt.p99_us);
        printf("tcp loopback round trip mean     %8.2f µs\n", tcp_rtt.mean_us);
        printf("unix socketpair pipelined        %8.0f msgs/s (batches of %ld)\n", pipelined, batch);
        printf("tcp loopback pipelined           %8.0f msgs/s (batches of %ld)\n", tcp_pipelined, batch);
    }
    return 0;
}
