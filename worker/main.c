/*
 * vbp-worker [options]          run the pool
 * vbp-worker hash               print the argon2id hash of a password
 *                               read from standard input (demo data, tests)
 *
 *   -l ADDR   listen on unix:/path, /path or host:port
 *   -n N      children (default 8)
 *   -R ADDR   listen for pipelined reads on unix:/path, /path or host:port
 *   -N N      read children (default 2; see reader.c)
 *   -a ADDR   listen for operations that hash a password (sign-in,
 *             password change and reset, account creation)
 *   -A N      hash children (default: half the cores, at least 1)
 *   -d INFO   libpq connection string
 *   -r H:P    Redis for sessions (default 127.0.0.1:6379)
 *   -i SEC    idle timeout of a kept-alive connection (default 10)
 *   -m BYTES  largest request frame (default 8 MiB)
 *   -p FILE   pid file
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "vbp.h"


vbp_config_t  vbp_config = {
    "dbname=vbp", "127.0.0.1", 6379, VBP_FRAME_MAX_DEFAULT, 10, NULL, NULL
};


static int vbp_hash_stdin(void);
static int vbp_usage(void);


int
main(int argc, char **argv)
{
    int               opt;
    long              n;
    char             *colon, *end;
    vbp_pool_conf_t   pc;

    /* before any JSON: jansson's memory carries jpool.c's headers */
    vbp_jpool_init();

    if (vbp_password_init() != 0) {
        fprintf(stderr, "vbp-worker: libsodium failed to initialize\n");
        return 1;
    }

    if (argc == 2 && strcmp(argv[1], "hash") == 0) {
        return vbp_hash_stdin();
    }

    memset(&pc, 0, sizeof(pc));
    pc.children = 8;
    pc.readers = 2;

    /*
     * one hash at a time per two cores: argon2id's 64 MiB sweep the caches
     * and the memory bus the other processes share, which no scheduling
     * class shields them from (make bench: with 2 hash children on 2 cores
     * the saves' p99 doubled under a sign-in storm, with 1 it rose by 60 %)
     */
    n = sysconf(_SC_NPROCESSORS_ONLN);
    pc.hashers = n >= 4 ? (int) (n / 2) : 1;

    while ((opt = getopt(argc, argv, "l:n:R:N:a:A:d:r:i:m:p:u:S:")) != -1) {
        switch (opt) {
        case 'l':
            pc.listen_addr = optarg;
            break;
        case 'n':
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 256) {
                return vbp_usage();
            }
            pc.children = (int) n;
            break;
        case 'R':
            pc.reader_addr = optarg;
            break;
        case 'N':
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64) {
                return vbp_usage();
            }
            pc.readers = (int) n;
            break;
        case 'a':
            pc.hasher_addr = optarg;
            break;
        case 'A':
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64) {
                return vbp_usage();
            }
            pc.hashers = (int) n;
            break;
        case 'd':
            vbp_config.conninfo = optarg;
            break;
        case 'r':
            if (strncmp(optarg, "unix:", 5) == 0) {
                vbp_config.redis_host = optarg + 5;
                vbp_config.redis_port = 0;
                break;
            }

            colon = strrchr(optarg, ':');
            if (colon == NULL) {
                return vbp_usage();
            }
            *colon = '\0';
            vbp_config.redis_host = optarg;
            vbp_config.redis_port = atoi(colon + 1);
            if (vbp_config.redis_port < 1 || vbp_config.redis_port > 65535) {
                return vbp_usage();
            }
            break;
        case 'i':
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 3600) {
                return vbp_usage();
            }
            vbp_config.idle_timeout = (int) n;
            break;
        case 'm':
            n = strtol(optarg, &end, 10);
            if (*end || n < 1024 || n > 256L * 1024 * 1024) {
                return vbp_usage();
            }
            vbp_config.frame_max = (size_t) n;
            break;
        case 'p':
            pc.pidfile = optarg;
            break;
        case 'u':
            vbp_config.upload_dir = optarg;
            break;
        case 'S':
            vbp_config.file_store = optarg;
            break;
        default:
            return vbp_usage();
        }
    }

    if (pc.listen_addr == NULL || optind != argc) {
        return vbp_usage();
    }

    return vbp_pool_run(&pc);
}


static int
vbp_hash_stdin(void)
{
    char    line[256], hash[crypto_pwhash_STRBYTES];
    size_t  len;

    if (fgets(line, sizeof(line), stdin) == NULL) {
        return 1;
    }

    len = strcspn(line, "\r\n");
    line[len] = '\0';

    if (len == 0 || vbp_password_hash(line, hash, sizeof(hash)) != 0) {
        return 1;
    }

    printf("%s\n", hash);

    return 0;
}


static int
vbp_usage(void)
{
    fprintf(stderr,
            "usage: vbp-worker -l ADDR [-n N] [-R ADDR [-N N]] [-a ADDR [-A N]]\n"
            "                  [-d CONNINFO]\n"
            "                  [-r HOST:PORT|unix:PATH] [-i SEC] [-m BYTES]"
            " [-p PIDFILE]\n"
            "                  [-u UPLOAD_DIR] [-S FILE_STORE]\n"
            "       vbp-worker hash < password\n");
    return 2;
}
