/* OpenSSL's own GOST verification speed, for the bench to print beside
 * ours: loads a key with the GOST engine (OPENSSL_CONF), verifies one
 * signature over one digest N times in a C loop and prints the median of
 * five runs in microseconds per verification.
 * usage: openssl_verify KEY.pem DIGEST.bin SIG.bin N */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static unsigned char buf[2][4096];
    static int which = 0;
    unsigned char *b = buf[which++ & 1];
    *len = fread(b, 1, sizeof buf[0], f);
    fclose(f);
    return b;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
    FILE *kf = fopen(argv[1], "r");
    if (!kf) return 2;
    EVP_PKEY *key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    size_t dlen, slen;
    unsigned char *d = slurp(argv[2], &dlen), *s = slurp(argv[3], &slen);
    long n = atol(argv[4]);
    if (!key || !d || !s || n <= 0) return 2;
    double runs[5];
    for (int r = 0; r < 5; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < n; i++) {
            EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
            if (!ctx || EVP_PKEY_verify_init(ctx) <= 0 || EVP_PKEY_verify(ctx, s, slen, d, dlen) != 1) return 1;
            EVP_PKEY_CTX_free(ctx);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        runs[r] = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
    }
    qsort(runs, 5, sizeof runs[0], cmp);
    printf("%.1f\n", runs[2]);
    return 0;
}
