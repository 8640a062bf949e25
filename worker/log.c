/*
 * One line per event on stderr, which the Makefile sends to the log file:
 * time, pid, message.
 */

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "vbp.h"


void
vbp_log(const char *fmt, ...)
{
    char        stamp[32];
    time_t      now;
    va_list     ap;
    struct tm   tm;

    now = time(NULL);
    if (localtime_r(&now, &tm) == NULL
        || strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm) == 0)
    {
        stamp[0] = '\0';
    }

    fprintf(stderr, "%s [vbp-worker %d] ", stamp, (int) getpid());

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);

    fputc('\n', stderr);
    fflush(stderr);
}
