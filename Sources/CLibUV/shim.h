// CLibUV: the libuv headers, imported only by the MetUV wrapper module.
#ifndef MET_CLIBUV_SHIM_H
#define MET_CLIBUV_SHIM_H

#include <uv.h>

#endif
