/* Writes one encoded sample of every message type (full and minimal) into
 * DIR, the fuzz seed corpus: msg_gen_seeds fuzz/seeds/fuzz_msg_decode; and
 * a spec as dispatchd stores it in Redis (a one-spec submit naming its
 * job), which the leaser hands out as it is (dp_msg_spec_span). */
#include "msg_samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.msgpack", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "msg_gen_seeds: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: msg_gen_seeds DIR\n");
        return 64;
    }
    int bad = 0;
    for (int t = 1; t < DP_MSG_WIRE_COUNT; t++) {
        dp_msg m;
        dp_err err;
        void *buf;
        size_t len;
        msg_sample((dp_msg_type)t, &m);
        if (dp_msg_encode_buf(&m, &buf, &len, &err) != DP_OK) {
            fprintf(stderr, "msg_gen_seeds: %s: %s\n", dp_msg_type_name(m.type), err.msg);
            return 70;
        }
        bad |= write_file(argv[1], dp_msg_type_name(m.type), buf, len);
        free(buf);
        dp_msg_free(&m);
    }
    dp_job_spec spec;
    msg_sample_spec(&spec, "j-0123456789abcdef", 2);
    dp_msg s = {.type = DP_MSG_SUBMIT, .submit = {&spec, 1}};
    dp_err err;
    void *buf;
    size_t len;
    if (dp_msg_encode_buf(&s, &buf, &len, &err) != DP_OK) {
        fprintf(stderr, "msg_gen_seeds: stored spec: %s\n", err.msg);
        return 70;
    }
    bad |= write_file(argv[1], "stored_spec", buf, len);
    free(buf);
    dp_job_spec_free(&spec);
    return bad ? 70 : 0;
}
