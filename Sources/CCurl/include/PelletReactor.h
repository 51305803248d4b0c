#ifndef PELLET_REACTOR_H
#define PELLET_REACTOR_H

// The provider thread's readiness loop for one libcurl multi handle.
//
// On Linux: an epoll of the thread's own. libcurl says which sockets it wants watched
// (`CURLMOPT_SOCKETFUNCTION`) and when it next needs a timeout step (`CURLMOPT_TIMERFUNCTION`);
// `pellet_reactor_wait` sleeps in `epoll_wait` and hands each ready socket, and only the ready
// ones, to `curl_multi_socket_action`. Other threads wake it through an eventfd in the same
// epoll. It lives in C because it is the hottest code of the provider thread and touches
// nothing of Swift's: the callbacks update a table and call epoll_ctl, no more.
//
// Elsewhere (macOS), or when asked for (`PELLET_REACTOR_CURL_POLL`, so that Linux tests run it
// too): the same interface over libcurl's own loop, `curl_multi_perform`, `curl_multi_poll` and
// `curl_multi_wakeup`, so the package still builds and runs there.
//
// Every function but `pellet_reactor_wake` must be called on the thread that drives the multi
// handle.

#include <curl/curl.h>
#include <stdint.h>

typedef struct pellet_reactor pellet_reactor;

/// Which readiness loop drives the multi handle; chosen once, when the reactor is created.
typedef enum pellet_reactor_kind {
    /// The thread's own epoll where there is one (Linux); libcurl's own poll loop elsewhere.
    PELLET_REACTOR_EPOLL = 0,
    /// libcurl's own poll loop on every platform.
    PELLET_REACTOR_CURL_POLL = 1,
} pellet_reactor_kind;

/// Creates the reactor and, for the epoll, installs its socket and timer callbacks on `multi`.
/// NULL on failure (errno tells why).
pellet_reactor *pellet_reactor_create(CURLM *multi, pellet_reactor_kind kind);

/// Frees the reactor: only after `curl_multi_cleanup(multi)`, whose last socket callbacks it
/// still receives.
void pellet_reactor_destroy(pellet_reactor *reactor);

/// Installs the reactor's open- and close-socket callbacks on an easy handle, so that it knows
/// which descriptors are connection sockets (whose closing it sees, see PelletReactor.c).
CURLcode pellet_reactor_configure_easy(pellet_reactor *reactor, CURL *easy);

/// Makes a `pellet_reactor_wait` in progress, or the next one, return at once with 1. Callable
/// from any thread, until `pellet_reactor_destroy`.
void pellet_reactor_wake(pellet_reactor *reactor);

/// Runs libcurl's timeout step if its timer is due (a transfer just added, a timeout that
/// passed). Returns the first error of `curl_multi_socket_action`, or CURLM_OK.
CURLMcode pellet_reactor_run_timers(pellet_reactor *reactor);

/// Waits at most `max_wait_ms` milliseconds (less when libcurl's timer is due sooner) for a
/// ready socket or a wake, acts on each ready socket, then runs due timers. Returns 1 when
/// woken by `pellet_reactor_wake`, 0 otherwise, minus errno when the wait itself failed.
int pellet_reactor_wait(pellet_reactor *reactor, int max_wait_ms);

/// Counters for tests and measurements.
typedef struct pellet_reactor_stats {
    uint64_t waits;            ///< epoll_wait (or curl_multi_poll) calls
    uint64_t socket_actions;   ///< curl_multi_socket_action calls for a ready socket
    uint64_t timer_actions;    ///< curl_multi_socket_action calls for CURL_SOCKET_TIMEOUT (or curl_multi_perform)
    uint64_t registrations;    ///< epoll_ctl calls (add, modify, delete)
    uint64_t stray_events;     ///< readiness of a socket libcurl no longer watches
    uint64_t watched_sockets;  ///< sockets libcurl watches now
} pellet_reactor_stats;

pellet_reactor_stats pellet_reactor_get_stats(const pellet_reactor *reactor);

#endif
