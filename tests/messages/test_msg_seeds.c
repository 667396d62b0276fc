/* The committed fuzz seeds (fuzz/seeds/fuzz_msg_decode) still decode: the
 * corpus keeps up with the format. The directory comes as argv[1]. */
#include "messages/msg.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_msg_seeds DIR\n");
        return 64;
    }
    DIR *d = opendir(argv[1]);
    if (d == NULL) {
        fprintf(stderr, "test_msg_seeds: cannot open %s\n", argv[1]);
        return 1;
    }
    int n = 0, bad = 0;
    bool seen[DP_MSG_WIRE_COUNT] = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".msgpack") == NULL)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        static char buf[1 << 20];
        size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        dp_msg m;
        dp_err err;
        if (dp_msg_decode(buf, len, &m, &err) != DP_OK) {
            fprintf(stderr, "test_msg_seeds: %s: %s\n", e->d_name, err.msg);
            bad++;
        } else {
            seen[m.type] = true;
        }
        dp_msg_free(&m);
        n++;
    }
    closedir(d);
    for (int t = 1; t < DP_MSG_WIRE_COUNT; t++) {
        if (!seen[t]) {
            fprintf(stderr, "test_msg_seeds: no seed of type %s\n", dp_msg_type_name(t));
            bad++;
        }
    }
    printf("%d seeds, %d bad\n", n, bad);
    return bad ? 1 : 0;
}
