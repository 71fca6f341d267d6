/* A C program that uses the installed library (Tests/Make/check-install.sh):
 * a read on an empty pipe under a 50 ms deadline, in a process without
 * Swift and without any driver set-up. Exit status 0 when it timed out at
 * its deadline. */
#include <interruptio.h>

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int p[2];
    if (pipe(p) != 0)
        return 2;
    uint64_t deadline = iio_now_ns() + 50000000;
    if (iio_deadline_set(deadline) != 0)
        return 3; /* 1: no timer thread could be started */
    char b;
    ssize_t n = iio_read(p[0], &b, 1);
    uint64_t now = iio_now_ns();
    if (n != -ETIMEDOUT || now < deadline || now - deadline > 1000000000u)
        return 1;
    printf("interruptio %s: read timed out after %.1f ms\n", IIO_VERSION_STRING,
           (now - deadline + 50000000) / 1e6);
    return 0;
}
