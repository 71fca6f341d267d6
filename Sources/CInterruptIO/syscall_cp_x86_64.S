/*
 * iio_cp_syscall(state, nr, a, b, c, d, e, f) for x86_64.
 *
 * The race it closes: a canceller sets CANCEL in our state word and then
 * signals us. If the signal lands after we tested the bit but before the
 * kernel started the call, a plain "test; syscall" blocks forever. Here the
 * test and the syscall instruction both lie in [iio_cp_begin, iio_cp_end).
 * The handler (signal.c) looks at the interrupted RIP: inside the window
 * with CANCEL set, the call has not started (or was rewound by the kernel
 * to be restarted, which only happens when nothing was transferred), so it
 * moves RIP to iio_cp_cancel and the call never blocks. RIP at iio_cp_end
 * means the kernel already returned: RAX holds the real result (bytes
 * moved, a new descriptor) and is kept, so nothing is lost.
 *
 * Register use: r11 holds the state pointer; syscall clobbers r11 and rcx,
 * but the pointer is only read before the syscall instruction.
 */
#if defined(__x86_64__) && !defined(IIO_NO_PC_WINDOW) && \
    !defined(__SANITIZE_THREAD__)
#include <asm/errno.h>
#include "state_bits.h"

	.text
	.globl iio_cp_syscall
	.hidden iio_cp_syscall
	.type iio_cp_syscall,@function
	.globl iio_cp_begin, iio_cp_end, iio_cp_cancel
	.hidden iio_cp_begin, iio_cp_end, iio_cp_cancel
iio_cp_syscall:
	mov %rdi,%r11
	mov %rsi,%rax
	mov %rdx,%rdi
	mov %rcx,%rsi
	mov %r8,%rdx
	mov %r9,%r10
	mov 8(%rsp),%r8
	mov 16(%rsp),%r9
iio_cp_begin:
	testb $(1 << IIO_ST_CANCEL_BIT),(%r11)
	jnz iio_cp_cancel
	syscall
iio_cp_end:
	ret
iio_cp_cancel:
	mov $-ECANCELED,%rax
	ret
	.size iio_cp_syscall,.-iio_cp_syscall
#endif
	.section .note.GNU-stack,"",@progbits
