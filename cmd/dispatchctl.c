/* dispatchctl: thin main until its issue lands. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("dispatchctl 0.1.0\n");
        return 0;
    }
    fprintf(stderr, "dispatchctl: not built yet\n");
    return 70;
}
