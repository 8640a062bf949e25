/*
 * make bench: the argon2id hash of a password (the first argument) at
 * libsodium's smallest cost, for the bench's 30,000 synthetic hospital
 * accounts, so that signing 2,000 of them in takes seconds, not the
 * minutes 64 MiB hashes would.  The worker verifies any argon2id string by
 * the cost it names; the accounts people use are hashed by
 * `vbp-worker hash` at the interactive cost.  Never for real accounts.
 */

#include <sodium.h>
#include <stdio.h>
#include <string.h>


int
main(int argc, char **argv)
{
    char  out[crypto_pwhash_STRBYTES];

    if (argc != 2) {
        fprintf(stderr, "usage: %s PASSWORD\n", argv[0]);
        return 2;
    }

    if (sodium_init() < 0
        || crypto_pwhash_str_alg(out, argv[1], strlen(argv[1]),
                                 crypto_pwhash_OPSLIMIT_MIN,
                                 crypto_pwhash_MEMLIMIT_MIN,
                                 crypto_pwhash_ALG_ARGON2ID13) != 0)
    {
        fprintf(stderr, "%s: cannot hash\n", argv[0]);
        return 1;
    }

    puts(out);

    return 0;
}
