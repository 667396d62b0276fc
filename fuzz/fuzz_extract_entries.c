/* libFuzzer harness for archive extraction driven by entries rather than
 * zip bytes: the input describes up to 64 entries, libzip writes a valid zip
 * of them (so CRCs and offsets are right and the mutations reach extract.c's
 * own rules: names, unix modes, directories, sizes), and fuzz_extract_check
 * extracts it and checks the tree (see fuzz_extract.c for the promises).
 *
 * Input: records of
 *   flags (1 byte: bit 0 deflate, bit 1 DOS attributes instead of unix,
 *          bit 2 add as a directory with zip_dir_add)
 *   mode (2 bytes, little-endian: the unix st_mode's low 16 bits)
 *   name length (1 byte), name
 *   data length (2 bytes, little-endian), data
 * A record cut short by the end of the input ends the list; names libzip
 * will not add (a duplicate, say) are skipped. */
#include "fuzz/extract_check.h"
#include "fuzz/fuzz_check.h"

#include <string.h>
#include <zip.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_extract_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int zerr = 0;
    zip_t *za = zip_open(fuzz_extract_zip_path(), ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    FUZZ_CHECK(za != NULL);
    size_t p = 0;
    int added = 0;
    while (added < FUZZ_MAX_ENTRIES + 2 && p + 4 <= size) {
        unsigned flags = data[p];
        unsigned mode = (unsigned)data[p + 1] | (unsigned)data[p + 2] << 8;
        size_t nlen = data[p + 3];
        p += 4;
        if (p + nlen + 2 > size)
            break;
        char name[256];
        memcpy(name, data + p, nlen);
        name[nlen] = '\0';
        p += nlen;
        size_t dlen = (size_t)data[p] | (size_t)data[p + 1] << 8;
        p += 2;
        if (dlen > size - p)
            dlen = size - p;
        const uint8_t *body = data + p;
        p += dlen;
        zip_int64_t idx;
        if (flags & 4) {
            idx = zip_dir_add(za, name, ZIP_FL_ENC_RAW);
        } else {
            /* a copy libzip frees: the input buffer is gone by zip_close
             * (libzip does not take an empty buffer, so none for those) */
            void *copy = NULL;
            if (dlen > 0) {
                copy = malloc(dlen);
                FUZZ_CHECK(copy != NULL);
                memcpy(copy, body, dlen);
            }
            zip_source_t *src = zip_source_buffer(za, copy, dlen, dlen > 0);
            FUZZ_CHECK(src != NULL);
            idx = zip_file_add(za, name, src, ZIP_FL_ENC_RAW);
            if (idx < 0)
                zip_source_free(src);
        }
        if (idx < 0)
            continue;
        zip_set_file_compression(za, (zip_uint64_t)idx, flags & 1 ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                                 0);
        if (flags & 2)
            zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_DOS, mode);
        else
            zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                             (zip_uint32_t)mode << 16);
        added++;
    }
    if (zip_close(za) != 0) {
        /* libzip refused what it was given (e.g. a name it cannot store) */
        zip_discard(za);
        return 0;
    }
    if (added == 0)
        return 0; /* libzip writes no file for an empty archive */
    fuzz_extract_check();
    return 0;
}
