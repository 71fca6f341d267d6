/*
 * The one bit of the state word that the entry stubs (syscall_cp_*.S) test,
 * in a header plain enough for the assembler. internal.h derives
 * IIO_ST_CANCEL from it and asserts the stubs' assumption (low byte).
 */
#ifndef INTERRUPTIO_STATE_BITS_H
#define INTERRUPTIO_STATE_BITS_H
#define IIO_ST_CANCEL_BIT 1
#endif
