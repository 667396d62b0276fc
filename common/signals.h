/* The programs' signal set-up, written once: SIGTERM and SIGINT are blocked
 * in every thread (threads inherit the mask) so that only main takes them,
 * with sigwait on *stop; SIGHUP is blocked too, so a closed terminal or a
 * reload request never kills a daemon; SIGPIPE is ignored (a peer that goes
 * away is an error return, not a death). Call first thing in main. */
#ifndef DP_SIGNALS_H
#define DP_SIGNALS_H

#include <signal.h>

void dp_signals_setup(sigset_t *stop);

#endif
