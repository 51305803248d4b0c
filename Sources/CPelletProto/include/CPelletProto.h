#ifndef PELLET_CPELLETPROTO_H
#define PELLET_CPELLETPROTO_H
// Umbrella header: the protobuf-c runtime and the code generated from Protos/ by tools/gen-protos.
#include <protobuf-c/protobuf-c.h>
#include "pellet/v1/pellet.pb-c.h"
#endif
