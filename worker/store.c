/*
 * Files the worker makes for a download (a CSV of a catalog, of a summary):
 * written row by row into the file store's out/ directory and sent by
 * nginx from its internal location (vbp_file, X-Accel-Redirect), so that
 * no answer frame ever holds them and memory stays flat whatever their
 * size.  A made file is kept STORE_OUT_TTL seconds -- long enough for
 * nginx to send it, even to a slow client, since an open file outlives
 * its unlink -- and removed by the next download made after that.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vbp.h"


#define STORE_OUT_DIR   "out"
#define STORE_OUT_TTL   600
#define STORE_PATH_MAX  4200


/* made files older than STORE_OUT_TTL go */
static void
store_sweep(const char *dir)
{
    DIR            *d;
    char            path[STORE_PATH_MAX];
    time_t          now;
    struct stat     st;
    struct dirent  *e;

    d = opendir(dir);
    if (d == NULL) {
        return;
    }

    now = time(NULL);

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, e->d_name)
            >= sizeof(path))
        {
            continue;
        }

        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)
            && now - st.st_mtime > STORE_OUT_TTL
            && unlink(path) != 0 && errno != ENOENT)
        {
            vbp_log("cannot remove %s: %s", path, strerror(errno));
        }
    }

    (void) closedir(d);
}


/*
 * A new made file with the extension EXT: its descriptor, and in uri the
 * internal URI nginx sends it from ("/.vbp-files/out/<random>.EXT").  -1
 * when there is no store or it cannot be written (logged).
 */
int
vbp_store_create(const char *ext, char *uri, size_t len)
{
    int   fd;
    char  dir[STORE_PATH_MAX], path[STORE_PATH_MAX], token[40];

    if (vbp_config.file_store == NULL) {
        vbp_log("no file store (-S): downloads cannot be made");
        return -1;
    }

    if ((size_t) snprintf(dir, sizeof(dir), "%s/" STORE_OUT_DIR,
                          vbp_config.file_store)
        >= sizeof(dir))
    {
        vbp_log("the file store's path is too long");
        return -1;
    }

    /* setgid, as the store: nginx's workers read what the pool writes */
    if (mkdir(dir, 02750) != 0 && errno != EEXIST) {
        vbp_log("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }

    store_sweep(dir);

    if (vbp_random_token(token, 16) != 0) {
        return -1;
    }

    if ((size_t) snprintf(path, sizeof(path), "%s/%s.%s", dir, token, ext)
            >= sizeof(path)
        || (size_t) snprintf(uri, len, "/.vbp-files/" STORE_OUT_DIR "/%s.%s",
                             token, ext)
           >= len)
    {
        vbp_log("the file store's path is too long");
        return -1;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd == -1) {
        vbp_log("cannot create %s: %s", path, strerror(errno));
    }

    return fd;
}


/* the made file of URI, when what was written must not be sent */
void
vbp_store_discard(const char *uri)
{
    char  path[STORE_PATH_MAX];

    if (vbp_config.file_store == NULL
        || strncmp(uri, "/.vbp-files/", sizeof("/.vbp-files/") - 1) != 0)
    {
        return;
    }

    if ((size_t) snprintf(path, sizeof(path), "%s/%s", vbp_config.file_store,
                          uri + sizeof("/.vbp-files/") - 1)
        < sizeof(path))
    {
        (void) unlink(path);
    }
}
