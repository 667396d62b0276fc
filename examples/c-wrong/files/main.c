/* Meant to print the sum; keeps it in an int, so large sums wrap around. */
#include <stdio.h>

int main(void)
{
    long a, b;
    if (scanf("%ld %ld", &a, &b) != 2)
        return 1;
    int sum = (int)(a + b);
    printf("%d\n", sum);
    return 0;
}
