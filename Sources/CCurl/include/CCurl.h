#ifndef PELLET_CCURL_H
#define PELLET_CCURL_H

// Typed wrappers for libcurl's variadic and macro APIs, which Swift cannot call or import.
//
// Each wrapper fixes the type of the variadic argument, so a Swift caller cannot pass a value
// of the wrong width to an option (libcurl reads `long`, `curl_off_t`, a pointer or a function
// pointer according to the option, and a mismatch is undefined behaviour). Only the options
// PelletProviders uses have wrappers; add one here before using another type of option.

#include <curl/curl.h>

#include "PelletReactor.h"

// MARK: - Global

/// `curl_global_init(CURL_GLOBAL_DEFAULT)`: the macro is an expression Swift does not import.
static inline CURLcode pellet_curl_global_init_default(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

// MARK: - Easy handle options

/// The signature of `CURLOPT_WRITEFUNCTION` and `CURLOPT_HEADERFUNCTION` callbacks.
typedef size_t (*pellet_curl_data_callback)(char *data, size_t size, size_t count, void *userdata);

/// Options of type `long` (`CURLOPTTYPE_LONG`, `CURLOPTTYPE_VALUES`).
static inline CURLcode pellet_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/// Options of type `curl_off_t` (`CURLOPTTYPE_OFF_T`), e.g. `CURLOPT_POSTFIELDSIZE_LARGE`.
static inline CURLcode pellet_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// String options (`CURLOPTTYPE_STRINGPOINT`); libcurl copies the string.
static inline CURLcode pellet_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/// Data pointer options (`CURLOPTTYPE_OBJECTPOINT`, `CURLOPTTYPE_CBPOINT`), e.g. `CURLOPT_WRITEDATA`,
/// `CURLOPT_PRIVATE`, `CURLOPT_POSTFIELDS`. libcurl does not copy what the pointer points to.
static inline CURLcode pellet_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/// Header list options (`CURLOPTTYPE_SLISTPOINT`), e.g. `CURLOPT_HTTPHEADER`. The list must
/// outlive the transfer.
static inline CURLcode pellet_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list) {
    return curl_easy_setopt(handle, option, list);
}

/// `CURLOPT_SHARE`.
static inline CURLcode pellet_curl_easy_setopt_share(CURL *handle, CURLSH *share) {
    return curl_easy_setopt(handle, CURLOPT_SHARE, share);
}

/// `CURLOPT_WRITEFUNCTION` or `CURLOPT_HEADERFUNCTION`.
static inline CURLcode pellet_curl_easy_setopt_data_callback(
    CURL *handle, CURLoption option, pellet_curl_data_callback callback
) {
    return curl_easy_setopt(handle, option, callback);
}

// MARK: - Easy handle information

/// Information of type `long` (`CURLINFO_LONG`), e.g. `CURLINFO_RESPONSE_CODE`.
static inline CURLcode pellet_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// Information of type `curl_off_t` (`CURLINFO_OFF_T`), e.g. `CURLINFO_TOTAL_TIME_T`.
static inline CURLcode pellet_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// `CURLINFO_PRIVATE`: the pointer set with `CURLOPT_PRIVATE`.
static inline CURLcode pellet_curl_easy_getinfo_private(CURL *handle, void **value) {
    return curl_easy_getinfo(handle, CURLINFO_PRIVATE, value);
}

// MARK: - Multi and share handle options

/// Multi options of type `long`, e.g. `CURLMOPT_PIPELINING`, `CURLMOPT_MAX_HOST_CONNECTIONS`.
static inline CURLMcode pellet_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

/// Share options of type `long`, e.g. `CURLSHOPT_SHARE` with a `curl_lock_data` value.
static inline CURLSHcode pellet_curl_share_setopt_long(CURLSH *handle, CURLSHoption option, long value) {
    return curl_share_setopt(handle, option, value);
}

/// `CURLMsg.data.result`: the union is awkward to read from Swift.
static inline CURLcode pellet_curl_msg_result(const CURLMsg *message) {
    return message->data.result;
}

#endif
