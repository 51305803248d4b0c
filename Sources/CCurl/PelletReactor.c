#include "PelletReactor.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// Counters are written by the provider thread alone and read by anyone: relaxed atomics whose
// increment is a plain load and store (no locked instruction on the hot path).
#define BUMP(counter) \
    atomic_store_explicit(&(counter), atomic_load_explicit(&(counter), memory_order_relaxed) + 1, \
                          memory_order_relaxed)
#define READ(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

typedef struct {
    _Atomic uint64_t waits, socket_actions, timer_actions, registrations, stray_events, watched_sockets;
} counters;

struct pellet_reactor {
    CURLM *multi;
    /// Set at creation: libcurl's own poll loop drives the multi handle (always where there is
    /// no epoll; on Linux when asked for, so that the loop other platforms run is tested too).
    /// One predictable branch per call of the interface is all it costs the epoll loop.
    int curl_poll;
    counters stats;
#ifdef __linux__
    int epoll_fd;
    int wake_fd;
    int timer_armed;
    int64_t timer_deadline_ns;
    uint8_t *wanted;
    uint8_t *registered;  // REGISTERED | CONNECTION | interest bits
    size_t capacity;
#endif
};

// libcurl's own poll loop, behind the reactor's interface.

static CURLMcode poll_run_timers(pellet_reactor *reactor) {
    int running = 0;
    BUMP(reactor->stats.timer_actions);
    return curl_multi_perform(reactor->multi, &running);
}

static int poll_wait(pellet_reactor *reactor, int max_wait_ms) {
    BUMP(reactor->stats.waits);
    // curl_multi_poll does not say whether a wakeup ended it: report one, so that the caller
    // looks at its commands after every wait.
    if (curl_multi_poll(reactor->multi, NULL, 0, max_wait_ms, NULL) != CURLM_OK) return -1;
    poll_run_timers(reactor);
    return 1;
}

#ifdef __linux__

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

// Per descriptor, what libcurl wants (`wanted`: CURL_POLL_IN/OUT bits, 0 for nothing) and what
// the epoll holds (`registered`: the same bits, plus REGISTERED when the descriptor is in it).
//
// A connection socket that libcurl stops watching (the transfer on it ended and the connection
// went back to the pool) stays in the epoll with its last interest: the next transfer on that
// connection nearly always wants the same, so reusing a connection costs no epoll_ctl at all.
// Should the idle socket become ready (the server closed it), the event finds it unwanted and
// only then is it removed. That is safe only for descriptors whose closing the reactor sees
// (`close_socket`, which forgets the registration: the kernel drops a closed descriptor from
// the epoll, and a new socket may get the same number); every other descriptor libcurl
// watches (the threaded resolver's socket pair) is removed as soon as libcurl lets go of it.
enum { REGISTERED = 0x80, CONNECTION = 0x40, INTEREST = CURL_POLL_IN | CURL_POLL_OUT };

static int64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/// Grows the tables to hold descriptor `fd`; -1 when memory runs out.
static int reserve(pellet_reactor *reactor, curl_socket_t fd) {
    if (fd < 0) return -1;
    if ((size_t)fd < reactor->capacity) return 0;
    size_t capacity = reactor->capacity ? reactor->capacity : 256;
    while (capacity <= (size_t)fd) capacity *= 2;
    uint8_t *wanted = realloc(reactor->wanted, capacity);
    if (!wanted) return -1;
    reactor->wanted = wanted;
    uint8_t *registered = realloc(reactor->registered, capacity);
    if (!registered) return -1;
    reactor->registered = registered;
    memset(reactor->wanted + reactor->capacity, 0, capacity - reactor->capacity);
    memset(reactor->registered + reactor->capacity, 0, capacity - reactor->capacity);
    reactor->capacity = capacity;
    return 0;
}

static uint32_t epoll_events(uint8_t interest) {
    return ((interest & CURL_POLL_IN) ? EPOLLIN : 0) | ((interest & CURL_POLL_OUT) ? EPOLLOUT : 0);
}

/// Makes the epoll watch `fd` for `interest` (0: remove it). Tolerates a table that is wrong
/// about the epoll (a descriptor closed behind its back): ADD and MOD fall back to each other.
static int apply(pellet_reactor *reactor, curl_socket_t fd, uint8_t interest) {
    uint8_t state = reactor->registered[fd];
    uint8_t keep = state & CONNECTION;
    if (interest == 0) {
        if (state & REGISTERED) {
            BUMP(reactor->stats.registrations);
            epoll_ctl(reactor->epoll_fd, EPOLL_CTL_DEL, fd, NULL);  // ENOENT/EBADF: already gone
        }
        reactor->registered[fd] = keep;
        return 0;
    }
    if ((state & REGISTERED) && (state & INTEREST) == interest) return 0;
    struct epoll_event event = {.events = epoll_events(interest), .data.fd = fd};
    int operation = (state & REGISTERED) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    BUMP(reactor->stats.registrations);
    int result = epoll_ctl(reactor->epoll_fd, operation, fd, &event);
    if (result != 0 && (errno == ENOENT || errno == EEXIST)) {
        operation = operation == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        BUMP(reactor->stats.registrations);
        result = epoll_ctl(reactor->epoll_fd, operation, fd, &event);
    }
    if (result != 0) {
        reactor->registered[fd] = keep;
        return -1;
    }
    reactor->registered[fd] = keep | REGISTERED | interest;
    return 0;
}

/// `CURLMOPT_SOCKETFUNCTION`: libcurl wants `fd` watched for `what`, or no longer.
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socket_data) {
    (void)easy;
    (void)socket_data;
    pellet_reactor *reactor = user;
    if (reserve(reactor, fd) != 0) return -1;
    uint8_t interest = what == CURL_POLL_REMOVE ? 0 : (uint8_t)(what & INTEREST);
    if (reactor->wanted[fd] == 0 && interest != 0) BUMP(reactor->stats.watched_sockets);
    if (reactor->wanted[fd] != 0 && interest == 0) {
        atomic_store_explicit(&reactor->stats.watched_sockets, READ(reactor->stats.watched_sockets) - 1,
                              memory_order_relaxed);
    }
    reactor->wanted[fd] = interest;
    if (interest == 0 && (reactor->registered[fd] & CONNECTION)) {
        return 0;  // parked: see the comment on the tables
    }
    return apply(reactor, fd, interest) == 0 ? 0 : -1;
}

/// `CURLMOPT_TIMERFUNCTION`: libcurl's next timeout step is due in `timeout_ms` (-1: none).
/// Calling libcurl from here is not allowed; the loop runs the step (`pellet_reactor_run_timers`).
static int on_timer(CURLM *multi, long timeout_ms, void *user) {
    (void)multi;
    pellet_reactor *reactor = user;
    if (timeout_ms < 0) {
        reactor->timer_armed = 0;
    } else {
        reactor->timer_armed = 1;
        reactor->timer_deadline_ns = now_ns() + (int64_t)timeout_ms * 1000000;
    }
    return 0;
}

/// `CURLOPT_OPENSOCKETFUNCTION`: a connection socket, which the reactor may keep registered
/// while its connection is idle.
static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *address) {
    (void)purpose;
    pellet_reactor *reactor = user;
    curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd == CURL_SOCKET_BAD) return fd;
    if (reserve(reactor, fd) != 0) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    // A new descriptor is in no epoll, whatever an earlier one of the same number was.
    reactor->wanted[fd] = 0;
    reactor->registered[fd] = CONNECTION;
    return fd;
}

/// `CURLOPT_CLOSESOCKETFUNCTION`: closing drops the descriptor from the epoll; forget it.
static int close_socket(void *user, curl_socket_t fd) {
    pellet_reactor *reactor = user;
    if ((size_t)fd < reactor->capacity) {
        if (reactor->wanted[fd] != 0) {
            atomic_store_explicit(&reactor->stats.watched_sockets, READ(reactor->stats.watched_sockets) - 1,
                                  memory_order_relaxed);
        }
        reactor->wanted[fd] = 0;
        reactor->registered[fd] = 0;
    }
    return close(fd);
}

/// Sets up the epoll, the wake-up eventfd and libcurl's callbacks; -1 on failure (errno).
static int epoll_setup(pellet_reactor *reactor, CURLM *multi) {
    reactor->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    reactor->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    // Edge-triggered: every write to the eventfd is one event, and the counter need never be
    // read back (it cannot overflow in practice), which saves a system call per wake.
    struct epoll_event event = {.events = EPOLLIN | EPOLLET, .data.fd = -1};
    if (reactor->epoll_fd < 0 || reactor->wake_fd < 0 ||
        epoll_ctl(reactor->epoll_fd, EPOLL_CTL_ADD, reactor->wake_fd, &event) != 0 ||
        curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, reactor) != CURLM_OK ||
        curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(multi, CURLMOPT_TIMERDATA, reactor) != CURLM_OK) {
        return -1;
    }
    return 0;
}

static CURLcode epoll_configure_easy(pellet_reactor *reactor, CURL *easy) {
    CURLcode code = curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    if (code == CURLE_OK) code = curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, reactor);
    if (code == CURLE_OK) code = curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    if (code == CURLE_OK) code = curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, reactor);
    return code;
}

static void epoll_wake(pellet_reactor *reactor) {
    uint64_t one = 1;
    ssize_t written = write(reactor->wake_fd, &one, sizeof one);
    (void)written;  // EAGAIN only if the counter is full, and then a wake is pending anyway
}

static CURLMcode epoll_run_timers(pellet_reactor *reactor) {
    CURLMcode first = CURLM_OK;
    // libcurl may ask for another step at once (0 ms); a few rounds, then back to the wait,
    // which will not sleep while the timer is due.
    for (int round = 0; round < 4 && reactor->timer_armed && reactor->timer_deadline_ns <= now_ns(); round++) {
        reactor->timer_armed = 0;
        int running = 0;
        BUMP(reactor->stats.timer_actions);
        CURLMcode code = curl_multi_socket_action(reactor->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        if (first == CURLM_OK) first = code;
        // libcurl calls the timer function only when its next deadline changes; if the step
        // left the same deadline (due, not yet processed), ask for it rather than lose it.
        if (!reactor->timer_armed) {
            long timeout_ms = -1;
            if (curl_multi_timeout(reactor->multi, &timeout_ms) == CURLM_OK && timeout_ms >= 0) {
                on_timer(reactor->multi, timeout_ms, reactor);
            }
        }
    }
    return first;
}

static int epoll_wait_and_act(pellet_reactor *reactor, int max_wait_ms) {
    int wait_ms = max_wait_ms < 0 ? 0 : max_wait_ms;
    if (reactor->timer_armed) {
        int64_t left = reactor->timer_deadline_ns - now_ns();
        int64_t left_ms = left <= 0 ? 0 : (left + 999999) / 1000000;
        if (left_ms < wait_ms) wait_ms = (int)left_ms;
    }
    struct epoll_event events[64];
    BUMP(reactor->stats.waits);
    int count = epoll_wait(reactor->epoll_fd, events, 64, wait_ms);
    if (count < 0) {
        if (errno != EINTR) return -errno;
        count = 0;
    }
    int woken = 0;
    for (int index = 0; index < count; index++) {
        int fd = events[index].data.fd;
        if (fd < 0) {
            woken = 1;
            continue;
        }
        uint32_t ready = events[index].events;
        uint8_t wanted = (size_t)fd < reactor->capacity ? reactor->wanted[fd] : 0;
        if (wanted == 0) {
            // An idle connection that became readable (closed by the server), or a socket
            // libcurl let go of earlier in this batch: stop watching it.
            BUMP(reactor->stats.stray_events);
            if ((size_t)fd < reactor->capacity) apply(reactor, fd, 0);
            continue;
        }
        int action = ((ready & EPOLLIN) ? CURL_CSELECT_IN : 0) | ((ready & EPOLLOUT) ? CURL_CSELECT_OUT : 0);
        if (ready & (EPOLLERR | EPOLLHUP)) {
            // Let libcurl try what it wanted to do, and find the error there.
            action |= ((wanted & CURL_POLL_IN) ? CURL_CSELECT_IN : 0) | ((wanted & CURL_POLL_OUT) ? CURL_CSELECT_OUT : 0);
            if (ready & EPOLLERR) action |= CURL_CSELECT_ERR;
        }
        int running = 0;
        BUMP(reactor->stats.socket_actions);
        curl_multi_socket_action(reactor->multi, fd, action, &running);
    }
    if (count == 0 && wait_ms == max_wait_ms && !reactor->timer_armed) {
        // A whole quiet interval: give libcurl a timeout step in case a deadline was missed.
        reactor->timer_armed = 1;
        reactor->timer_deadline_ns = 0;
    }
    epoll_run_timers(reactor);
    return woken;
}

#endif

pellet_reactor *pellet_reactor_create(CURLM *multi, pellet_reactor_kind kind) {
    pellet_reactor *reactor = calloc(1, sizeof *reactor);
    if (!reactor) return NULL;
    reactor->multi = multi;
#ifdef __linux__
    reactor->epoll_fd = -1;
    reactor->wake_fd = -1;
    if (kind == PELLET_REACTOR_EPOLL) {
        if (epoll_setup(reactor, multi) != 0) {
            int saved = errno;
            pellet_reactor_destroy(reactor);
            errno = saved;
            return NULL;
        }
        return reactor;
    }
#endif
    (void)kind;
    reactor->curl_poll = 1;
    return reactor;
}

void pellet_reactor_destroy(pellet_reactor *reactor) {
    if (!reactor) return;
#ifdef __linux__
    if (reactor->epoll_fd >= 0) close(reactor->epoll_fd);
    if (reactor->wake_fd >= 0) close(reactor->wake_fd);
    free(reactor->wanted);
    free(reactor->registered);
#endif
    free(reactor);
}

CURLcode pellet_reactor_configure_easy(pellet_reactor *reactor, CURL *easy) {
#ifdef __linux__
    if (!reactor->curl_poll) return epoll_configure_easy(reactor, easy);
#endif
    (void)reactor;
    (void)easy;
    return CURLE_OK;
}

void pellet_reactor_wake(pellet_reactor *reactor) {
#ifdef __linux__
    if (!reactor->curl_poll) {
        epoll_wake(reactor);
        return;
    }
#endif
    curl_multi_wakeup(reactor->multi);
}

CURLMcode pellet_reactor_run_timers(pellet_reactor *reactor) {
#ifdef __linux__
    if (!reactor->curl_poll) return epoll_run_timers(reactor);
#endif
    return poll_run_timers(reactor);
}

int pellet_reactor_wait(pellet_reactor *reactor, int max_wait_ms) {
#ifdef __linux__
    if (!reactor->curl_poll) return epoll_wait_and_act(reactor, max_wait_ms);
#endif
    return poll_wait(reactor, max_wait_ms);
}

pellet_reactor_stats pellet_reactor_get_stats(const pellet_reactor *reactor) {
    pellet_reactor_stats stats = {
        .waits = READ(reactor->stats.waits),
        .socket_actions = READ(reactor->stats.socket_actions),
        .timer_actions = READ(reactor->stats.timer_actions),
        .registrations = READ(reactor->stats.registrations),
        .stray_events = READ(reactor->stats.stray_events),
        .watched_sockets = READ(reactor->stats.watched_sockets),
    };
    return stats;
}
