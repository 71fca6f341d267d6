/*
 * iio_cp_syscall(state, nr, a, b, c, d, e, f) for aarch64.
 * The invariant is the one written out in syscall_cp_x86_64.S: the CANCEL
 * test and the svc lie in [iio_cp_begin, iio_cp_end); the handler moves a PC
 * found there to iio_cp_cancel when CANCEL is set; a PC at iio_cp_end means
 * the kernel returned and x0 is the real result. A restarted svc is rewound
 * by the kernel onto the svc instruction, inside the window.
 * x9 holds the state pointer; it is only read before svc.
 */
#if defined(__aarch64__) && !defined(IIO_NO_PC_WINDOW) && \
    !defined(__SANITIZE_THREAD__)
#include <asm/errno.h>
#include "state_bits.h"

	.text
	.globl iio_cp_syscall
	.hidden iio_cp_syscall
	.type iio_cp_syscall,%function
	.globl iio_cp_begin, iio_cp_end, iio_cp_cancel
	.hidden iio_cp_begin, iio_cp_end, iio_cp_cancel
iio_cp_syscall:
	mov x9,x0
	mov x8,x1
	mov x0,x2
	mov x1,x3
	mov x2,x4
	mov x3,x5
	mov x4,x6
	mov x5,x7
iio_cp_begin:
	ldrb w10,[x9]
	tbnz w10,#IIO_ST_CANCEL_BIT,iio_cp_cancel
	svc #0
iio_cp_end:
	ret
iio_cp_cancel:
	mov x0,#-ECANCELED
	ret
	.size iio_cp_syscall,.-iio_cp_syscall
#endif
	.section .note.GNU-stack,"",%progbits
