// CLibPQ: the libpq headers, imported only by the MetPostgres wrapper module.
#ifndef MET_CLIBPQ_SHIM_H
#define MET_CLIBPQ_SHIM_H

#include <libpq-fe.h>
#include <postgres_ext.h>

// Swift does not import char-literal macros such as `#define PG_DIAG_SQLSTATE 'C'`
// (LIBUV-LIBPQ.md §3), so the field codes we use are re-exported as constants.
static const int met_PG_DIAG_SEVERITY = PG_DIAG_SEVERITY;
static const int met_PG_DIAG_SQLSTATE = PG_DIAG_SQLSTATE;
static const int met_PG_DIAG_MESSAGE_PRIMARY = PG_DIAG_MESSAGE_PRIMARY;
static const int met_PG_DIAG_MESSAGE_DETAIL = PG_DIAG_MESSAGE_DETAIL;
static const int met_PG_DIAG_MESSAGE_HINT = PG_DIAG_MESSAGE_HINT;

#endif
