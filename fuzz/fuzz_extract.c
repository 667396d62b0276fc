/* libFuzzer harness for archive extraction (runner/exec/extract.c): the
 * input is written as a zip file and extracted into a fresh, empty
 * workspace, as the runner does with a submission's archive.
 *
 * Checked (extract_check.c): the result is DP_OK, DP_EINVAL, DP_EIO or
 * DP_ENOMEM with a message; the stats stay within the limits; the workspace
 * holds only regular files (mode 0644 or 0755) and directories, no symlink,
 * device or fifo, and at most the byte cap of data; nothing appears next to
 * the workspace (a zip-slip would). Every iteration removes what it made.
 * libzip itself is not instrumented, so coverage counts extract.c only;
 * fuzz_extract_entries drives names, modes and sizes more directly. */
#include "fuzz/extract_check.h"
#include "fuzz/fuzz_check.h"

#include <fcntl.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_extract_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = open(fuzz_extract_zip_path(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);
    fuzz_extract_check();
    return 0;
}
