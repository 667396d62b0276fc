/* Never terminates: the sandbox stops it at the CPU limit. */
int main(void)
{
    volatile unsigned long x = 0;
    for (;;)
        x++;
}
