#ifndef PELLET_CLMDB_SHIM_H
#define PELLET_CLMDB_SHIM_H
#include <lmdb.h>
#endif
