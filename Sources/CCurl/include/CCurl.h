#ifndef PELLET_CCURL_H
#define PELLET_CCURL_H
// Placeholder: typed wrappers for libcurl's variadic calls land with PelletProviders.
#include <curl/curl.h>
#endif
