/* The checks and temporary directories shared by the two extractor
 * harnesses: fuzz_extract (the input is the zip file) and
 * fuzz_extract_entries (the input describes entries; libzip writes the zip).
 *
 * Temporary files: one directory $TMPDIR/dispatch-fuzz-extract.PID.XXXXXX
 * per process, holding input.zip and ws/. It is removed at a normal exit.
 * A crash leaves it (libFuzzer and the sanitizers end the process with
 * _Exit, and both drivers own the one death callback), so every start
 * removes such directories whose PID is no longer running, and
 * scripts/fuzz.sh does the same after each run. */
#ifndef FUZZ_EXTRACT_CHECK_H
#define FUZZ_EXTRACT_CHECK_H

#define FUZZ_MAX_ENTRIES 64
#define FUZZ_MAX_BYTES (1u << 20)

/* Creates the per-process directory (once; later calls do nothing). */
void fuzz_extract_init(void);

/* Where the harness writes the zip to extract; owned by this module. */
const char *fuzz_extract_zip_path(void);

/* Extracts fuzz_extract_zip_path() into a fresh empty workspace with the
 * limits above, checks the result and the tree, and removes the tree.
 * Aborts (FUZZ_CHECK) on a broken promise. */
void fuzz_extract_check(void);

#endif
