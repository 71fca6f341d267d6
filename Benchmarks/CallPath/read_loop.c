#include "interruptio.h"
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int p[2]; pipe(p);
    int n = 200000;
    char c = 'x';
    int use_iio = argc > 1 && argv[1][0] == 'i';
    iio_init(0, 0);
    for (int i = 0; i < n; i++) {
        write(p[1], &c, 1);
        if (use_iio) iio_read(p[0], &c, 1); else read(p[0], &c, 1);
    }
    return 0;
}
