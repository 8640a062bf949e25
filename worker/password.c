/*
 * Passwords: argon2id through libsodium at its "interactive" cost (64 MiB,
 * 2 passes), the policy of seed 001 (at least 10 characters from at least
 * three of upper case, lower case, digits, specials), and random tokens.
 */

#include <string.h>
#include <sodium.h>

#include "vbp.h"


/* verified against when the username is unknown, so the time is the same */
static char  vbp_dummy_hash[crypto_pwhash_STRBYTES];


int
vbp_password_init(void)
{
    if (sodium_init() < 0) {
        return -1;
    }

    return vbp_password_hash("not a password of anyone", vbp_dummy_hash,
                             sizeof(vbp_dummy_hash));
}


int
vbp_password_hash(const char *password, char *out, size_t outlen)
{
    if (outlen < crypto_pwhash_STRBYTES) {
        return -1;
    }

    return crypto_pwhash_str_alg(out, password, strlen(password),
                                 crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                 crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                 crypto_pwhash_ALG_ARGON2ID13);
}


/* 1: matches; 0: does not (or no hash: then the dummy burns the time) */
int
vbp_password_verify(const char *hash, const char *password)
{
    /* no user, or an account whose password was never set ("!") */
    if (hash == NULL || strncmp(hash, "$argon2", 7) != 0) {
        /* only the time spent matters: no match */
        if (crypto_pwhash_str_verify(vbp_dummy_hash, password,
                                     strlen(password)) == 0)
        {
            return 0;
        }

        return 0;
    }

    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}


/* NULL when acceptable, else the message for the new-password field */
const char *
vbp_password_policy(const char *password, const char *old,
    const char *username)
{
    int          upper, lower, digit, special;
    size_t       chars;
    const char  *p;

    upper = lower = digit = special = 0;
    chars = 0;

    for (p = password; *p; p++) {
        unsigned char  c = (unsigned char) *p;

        chars += (c & 0xC0) != 0x80;

        if (c >= 'A' && c <= 'Z') {
            upper = 1;
        } else if (c >= 'a' && c <= 'z') {
            lower = 1;
        } else if (c >= '0' && c <= '9') {
            digit = 1;
        } else if (c > ' ' && c < 0x7f) {
            special = 1;
        } else {
            return "密码只能包含字母、数字和英文特殊字符";
        }
    }

    if (chars < 10) {
        return "密码长度不能少于10位";
    }

    if (chars > 64) {
        return "密码长度不能超过64位";
    }

    if (upper + lower + digit + special < 3) {
        return "密码须包含大写字母、小写字母、数字、特殊字符中的至少三种";
    }

    if (old && strcmp(password, old) == 0) {
        return "新密码不能与原密码相同";
    }

    if (username && strstr(password, username) != NULL) {
        return "密码不能包含用户名";
    }

    return NULL;
}


/* nbytes of randomness as URL-safe base64 without padding */
int
vbp_random_token(char *out, size_t nbytes)
{
    unsigned char  raw[64];

    if (nbytes > sizeof(raw)) {
        return -1;
    }

    randombytes_buf(raw, nbytes);

    if (sodium_bin2base64(out, sodium_base64_ENCODED_LEN(nbytes,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                          raw, nbytes,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING)
        == NULL)
    {
        return -1;
    }

    return 0;
}


/*
 * a one-time password for a reset: len characters (at least 12) with upper
 * case, lower case and digits, none of the look-alikes 0/O, 1/l/I
 */
int
vbp_password_generate(char *out, size_t len)
{
    size_t      i, j, n;
    char        c;
    const char  *sets[3] = { "ABCDEFGHJKLMNPQRSTUVWXYZ",
                             "abcdefghijkmnopqrstuvwxyz",
                             "23456789" };
    static const char  all[] = "ABCDEFGHJKLMNPQRSTUVWXYZ"
                               "abcdefghijkmnopqrstuvwxyz23456789";

    if (len < 13) {
        return -1;
    }

    n = len - 1;

    for (i = 0; i < n; i++) {
        out[i] = i < 3 ? sets[i][randombytes_uniform(strlen(sets[i]))]
                       : all[randombytes_uniform(sizeof(all) - 1)];
    }

    /* the three guaranteed characters go anywhere */
    for (i = n - 1; i > 0; i--) {
        j = randombytes_uniform((uint32_t) i + 1);
        c = out[i];
        out[i] = out[j];
        out[j] = c;
    }

    out[n] = '\0';

    return 0;
}
