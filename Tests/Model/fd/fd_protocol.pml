/*
 * fd_protocol.pml -- an exhaustive Promela model of the descriptor protocol
 * of Sources/CInterruptIO/fd.c (iio_fd_t: per-direction deadlines that
 * reach every call in flight, and a close that unblocks every caller and
 * closes the number once, after the last of them has left), with the parts
 * it runs on: iio_source_swap (internal.h), iio_source_recheck
 * (deadline.c), op_begin / op_begin_deadline / op_call_and_end /
 * outcome_of (syscall.c) and iio_request (cancel.c). It follows the C code
 * of commit 9eb751b (call_begin / call_end; the published source kept
 * across calls; the source word loaded before the op-begin CAS and again
 * after it); -DV1 gives the first version, 870d370.
 * Tests/Model/fd/README.md lists the checks; Tests/Model/fd/check.sh runs
 * them.
 *
 * Every step is one atomic action of the C code, marked "model: NAME"
 * here; README.md names the C statement of each (fd.c has no markers of
 * its own). Memory is sequentially consistent: every atomic the protocol's
 * reasoning depends on is seq_cst in the C code; README.md says why the
 * four relaxed loads involved do not matter.
 *
 * Processes: two callers (records 0 and 1), each making NITER calls
 * (iio_fd_read or iio_fd_write, chosen per call); a setter
 * (iio_fd_set_deadline on the read side); a closer (iio_fd_close); a
 * reopen process (another thread's open() reusing the freed number); a
 * monitor for the P3 invariant.
 *
 * Abstractions:
 *   - A request (iio_request, reason RECHECK, any operation) is one step:
 *     if the target's state has IN_OP it sets PEND (CANCEL), which makes
 *     the target's blocked syscall return and a syscall not yet in the
 *     kernel return at once (the PC window's test); else nothing. That is
 *     what ../request_protocol.pml proves of the real request (holds,
 *     signals, the PC window, the portable path's resend timer). Holds are
 *     therefore not modelled, nor thread exit or record reuse.
 *   - A deadline word holds CLOSED_W (0, CLOSED_WORD), PASSED (a deadline
 *     already past), LATER (a deadline in the future, which never passes
 *     in the model: reaching it is the timer thread's job, modelled in
 *     ../request_protocol.pml) or NEVER, ordered as the nanoseconds are.
 *     The thread's and the call's own deadlines are NEVER; no cancel.
 *   - A blocked syscall returns on a request, or with data: at its entry
 *     the caller chooses whether data will ever arrive for it, so under
 *     weak fairness a call may wait for a request alone.
 *   - One process, one fork epoch; no count overflow (-EAGAIN); no
 *     shutdown; one closer; nested calls in a signal handler only as
 *     -DNESTED below.
 *
 * Configuration (-D):
 *   HAVE_CLOSER      the closer and the reopen process
 *   HAVE_SETTER      the setter
 *   NO_TIMEOUT       the closer's futex wait has no 5 ms timeout: it
 *                    returns only when woken or when the word moved
 *   NITER, NITER1    calls by caller 0, caller 1 (default 2, NITER)
 *   NSET             the setter's settings (default 2)
 *   LTL_P2, LTL_P3   which LTL property to build (for pan -a -f)
 *   V1               the first version's source handling (870d370)
 *   NESTED           caller 0's blocked syscall is interrupted once by an
 *                    application signal handler that makes a nested
 *                    iio_fd_* call on another descriptor
 *   CHECK_FREE       finding: nothing reads f once iio_fd_close returned
 *   STRICT_BEGUN     finding: a call counted in after close began (the
 *                    read side's CLOSED, what iio_fd_closed reports) fails
 *                    with -EBADF without entering the kernel
 *   MUT_* / VAR_*    known-bad (must be caught) / harmless or fixed (must
 *                    pass) variants of single C steps; see check.sh
 */

#ifndef NITER
#define NITER 2
#endif
#define NC 2                    /* caller threads (records 0 and 1)     */
#ifndef NITER1
#define NITER1 NITER            /* caller 1's calls                     */
#endif
#ifndef NSET
#define NSET 2                  /* the setter's settings                */
#endif

/* deadline words (uint64 ns, narrowed; order preserved) */
#define W_CLOSED 0              /* CLOSED_WORD                           */
#define W_PASSED 1              /* a deadline already past (a setter's 0
                                   is stored as 1)                       */
#define W_LATER  2              /* in the future                         */
#define W_NEVER  3              /* IIO_NEVER                             */
#define W_NONE   7              /* ghost: this op has not read the word  */

/* call words: bit 3 CLOSED (bit 31), bits 0-2 CALLS; the epoch is fixed */
#define CLOSED   8
#define CNT(w)   ((w) & 7)

/* the number */
#define NUM      1              /* f->number while open                  */
#define NUM_NONE 0              /* -1 once closed                        */
/* what the number names in the kernel */
#define K_FREE   0              /* closed: no file                      */
#define K_OURS   1              /* our file                             */
#define K_OTHER  2              /* another open() reused the number      */

/* a call's result */
#define R_NONE     0
#define R_OK       1            /* the syscall's own result (data moved) */
#define R_TIMEDOUT 2
#define R_BADF     3
#define R_INTR     4            /* internal: our request woke the syscall */

/* ------------------------------------------------------------------ */
/* Shared state                                                       */
/* ------------------------------------------------------------------ */

byte calls[2];                  /* f->calls[READ_SIDE], [WRITE_SIDE]     */
byte dl[2] = W_NEVER;           /* f->deadline[READ_SIDE], [WRITE_SIDE]  */
byte number = NUM;              /* f->number                             */
byte ktab = K_OURS;             /* the kernel's file table at NUM        */
byte fwait;                     /* the closer sleeps in FUTEX_WAIT on
                                   calls[fwait - 1] (0: not waiting)     */

byte src[NC];                   /* rec->deadline_source: 0 NULL, 1
                                   &deadline[0], 2 &deadline[1], 3
                                   another descriptor's word (NESTED)    */
bit  inop[NC];                  /* IN_OP in rec->state                   */
bit  pend[NC];                  /* CANCEL (reason RECHECK) in rec->state */

/* ghosts */
byte side[NC];                  /* the direction of the caller's call    */
byte seen[NC] = W_NONE;         /* the word the current op read          */
bit  inkern[NC];                /* blocked in the kernel on the number   */
byte ndone;                     /* callers finished                      */
bit  close_begun;               /* calls[0] has CLOSED (iio_fd_closed)   */
bit  cbusy;                     /* the closer: words stored, not yet done */
bit  close_done;                /* iio_fd_close has returned             */
bit  sbusy;                     /* the setter: between a store that moved
                                   the word earlier and the end of its
                                   look for calls                        */
bit  passed_set[2];             /* a setter stored a passed deadline     */

#ifdef NO_TIMEOUT
bit  moved;                     /* a count changed since the closer's last
                                   close_count                           */
#define MOVED moved = 1
#define LOOP_BOUNDED(again) assert(!again || moved); moved = 0; again = 1
#else
#define MOVED skip
#define LOOP_BOUNDED(again) skip
#endif

/* ------------------------------------------------------------------ */
/* Requests and the scan (deadline.c, cancel.c)                       */
/* ------------------------------------------------------------------ */

/* iio_request(rec, inc, IIO_ANY_OPERATION, IIO_REASON_RECHECK, 0),
 * delivery included (see the head of the file) */
inline request_(i)
{
	atomic {                                     /* model: request */
		if
		:: inop[i] ->
			printf("@%d request to C%d: in a call: PEND (re-check)\n", _pid, i);
			pend[i] = 1
		:: else ->
			printf("@%d request to C%d: no call in flight: nothing\n", _pid, i)
		fi
	}
}

/* iio_source_recheck(a, b): a and b are side + 1, or 0 for NULL */
inline scan_(a, b)
{
	i = 0;
	do
	:: i < NC ->
		atomic { sv = src[i] }                   /* model: scan_source */
		if
		:: sv != 0 && (sv == a || sv == b) ->
			atomic { hit = inop[i] }             /* model: scan_state */
			if
			:: hit -> request_(i)
			:: else ->
				printf("@%d scan: C%d's source matches, not in a call: skipped\n", _pid, i)
			fi
		:: else ->
			printf("@%d scan: C%d's published source is %d, not ours: skipped\n", _pid, i, sv)
		fi;
		atomic { i++; sv = 0; hit = 0 }
	:: else -> break
	od;
	i = 0
}

/* ------------------------------------------------------------------ */
/* Callers: iio_fd_begin, the call (op_call_and_end), iio_fd_end      */
/* ------------------------------------------------------------------ */

/* STRICT_BEGUN: a call counted in after close began (on either side)
 * neither enters the kernel nor returns anything but -EBADF */
#ifdef STRICT_BEGUN
bit  after_begun[NC];
#define AFTER_BEGUN(t) after_begun[t] = close_begun
#define STRICT_ENTRY(t) assert(!after_begun[t])
#define STRICT_RETURN(t) assert(!after_begun[t] || res == R_BADF); after_begun[t] = 0
#else
#define AFTER_BEGUN(t) skip
#define STRICT_ENTRY(t) skip
#define STRICT_RETURN(t) skip
#endif

/* iio_source_swap(rec, &f->deadline[d]) in call_begin. HEAD: the
 * relaxed load of the record's own publication (only the owner writes it,
 * so the load is exact and merges into the step), and the seq_cst store
 * only when it differs. V1: the store every time. */
inline fd_publish_(t, d)
{
	atomic {                                     /* model: fd_publish */
		side[t] = d;
#ifndef V1
		if
		:: src[t] != d + 1 ->
			src[t] = d + 1;
			printf("C%d: fd_publish: source = deadline[%d] (stored)\n", t, d)
		:: else ->
			printf("C%d: fd_publish: source = deadline[%d] (already published)\n", t, d)
		fi
#else
		src[t] = d + 1;
		printf("C%d: fd_publish: source = deadline[%d]\n", t, d)
#endif
	}
}

/* iio_source_swap(rec, previous = NULL): HEAD stores nothing (the
 * publication stays); V1 stored NULL */
#ifdef V1
#define fd_unpublish_(t) \
	atomic {                                     /* model: fd_unpublish */ \
		src[t] = 0; \
		printf("C%d: fd_unpublish: source = NULL\n", t) \
	}
#else
#define fd_unpublish_(t) skip
#endif

/* A nested call's call_begin (iio_source_swap(rec, &other->deadline[s]),
 * previous = ours): the store, as the relaxed load sees another source.
 * VAR_NESTED_KEEPS_OUTER, the fix proposed for finding_nested: a call that
 * begins while its thread is inside an operation (IN_OP in its own state:
 * a nested call, whose op_begin is refused anyway) sets only the
 * thread-local source and leaves the outer call's publication. (Not
 * "previous != NULL": a thread's own iio_deadline_source is a previous
 * source too.) */
#ifndef VAR_NESTED_KEEPS_OUTER
#define NESTED_PUBLISH(t) src[t] = 3
#else
#define NESTED_PUBLISH(t) skip
#endif

#ifndef MUT_ENTER_IGNORES_CLOSED
#define ENTER_REFUSED(d) (calls[d] & CLOSED)
#else
#define ENTER_REFUSED(d) false
#endif

/* enter(f, side): the CAS loop, linearised at its successful CAS (or at
 * the load that saw CLOSED, which is never cleared) */
inline fd_enter_cas_(t, d)
{
	atomic {                                     /* model: fd_enter */
		side[t] = d;
		if
		:: ENTER_REFUSED(d) ->
			res = R_BADF;
			printf("C%d: fd_enter: CLOSED: -EBADF\n", t)
		:: else ->
			calls[d]++;
			MOVED;
			printf("C%d: fd_enter: calls[%d] = %d\n", t, d, CNT(calls[d]))
		fi
	}
}

#ifndef VAR_ENTER_CHECKS_READ
#define fd_enter_(t, d) \
	atomic { AFTER_BEGUN(t); fd_enter_cas_(t, d) }
#else
/* The fix proposed for finding_begun: enter first loads calls[READ_SIDE]
 * (seq_cst) and refuses once close has begun there, whatever the side;
 * then its CAS as before. */
inline fd_enter_(t, d)
{
	atomic {                                     /* model: fd_enter_begun */
		AFTER_BEGUN(t);
		if
		:: (calls[0] & CLOSED) ->
			res = R_BADF;
			printf("C%d: fd_enter: close has begun (read side CLOSED): -EBADF\n", t)
		:: else
		fi
	}
	if
	:: res == R_NONE -> fd_enter_cas_(t, d)
	:: else
	fi
}
#endif

/* op_end, from op_call_and_end or op_begin_deadline */
inline op_end_(t)
{
	inop[t] = 0; pend[t] = 0; seen[t] = W_NONE
}

/* op_begin: the word as the op's start decides on it, in w. HEAD: a
 * relaxed load before the CAS (candidate), the CAS, a seq_cst load after
 * it; if that differs, op_begin_deadline's iio_effective_deadline loads it
 * once more. V1: the CAS, then one load. */
inline op_begin_(t, d)
{
#ifndef V1
	atomic {                                     /* model: op_source_pre */
		pre = dl[d];
		printf("C%d: op_source_pre: deadline[%d] = %d (relaxed, before the CAS)\n", t, d, pre)
	}
#endif
	atomic {                                     /* model: op_begin */
		inop[t] = 1;
		printf("C%d: op_begin: IN_OP\n", t)
	}
#if defined(V1)
	atomic {                                     /* model: op_source_read */
		w = dl[d];
		seen[t] = w;
		printf("C%d: op_source_read: deadline[%d] = %d\n", t, d, w)
	}
#elif defined(MUT_NO_REREAD)
	atomic { w = pre; seen[t] = w; pre = 0 }     /* trusts the load before the CAS */
#else
	atomic {                                     /* model: op_source_post */
		if
		:: dl[d] == pre ->
			w = pre;
			seen[t] = w;
			printf("C%d: op_source_post: deadline[%d] = %d, unchanged\n", t, d, w)
		:: else ->
			w = W_NONE;
			printf("C%d: op_source_post: deadline[%d] changed\n", t, d)
		fi;
		pre = 0
	}
	if
	:: atomic { w == W_NONE ->                   /* model: op_source_read */
		/* op_begin_deadline: iio_effective_deadline */
		w = dl[d];
		seen[t] = w;
		printf("C%d: op_source_read: deadline[%d] = %d\n", t, d, w) }
	:: else
	fi
#endif
}

proctype Caller(byte t)
{
	byte d, it, res, w, pre;
	bit data, cl;
#ifdef NESTED
	bit nest = (t == 0);            /* caller 0's handler runs once */
#endif
	do
	:: it < (t == 0 -> NITER : NITER1) ->
		/* call_begin (the call's direction chosen with the first step) */
#ifndef VAR_COUNT_FIRST
		atomic {
			it++;
			if
			:: d = 0
			:: d = 1
			fi;
			fd_publish_(t, d)
		}
		fd_enter_(t, d);
		if
		:: res == R_BADF -> fd_unpublish_(t)
		:: else
		fi;
#else
		atomic {
			it++;
			if
			:: d = 0
			:: d = 1
			fi;
			fd_enter_(t, d)                      /* counted, then published */
		}
		if
		:: res == R_NONE -> fd_publish_(t, d)
		:: else
		fi;
#endif
		if
		:: res == R_BADF
		:: else ->
			atomic {                             /* model: fd_number */
				/* begin returns the number: never -1 while counted */
				assert(number == NUM);
				printf("C%d: fd_number: %d\n", t, number)
			}
			/* interruptible(): op_begin, op_call_and_end */
			do
			::
				op_begin_(t, d);
				if
				:: atomic { w <= W_PASSED ->     /* iio_deadline_passed */
					op_end_(t);                  /* model: op_end */
					res = R_TIMEDOUT;
					printf("C%d: passed at op begin: op_end, -ETIMEDOUT\n", t) }
					break
				:: atomic { w > W_PASSED ->      /* model: fd_syscall */
					/* (op_notify: the timer's); the PC window's test,
					 * then the syscall */
					if
					:: pend[t] ->
						res = R_INTR;
						printf("C%d: fd_syscall: PEND: returns at once\n", t)
					:: else ->
						/* P1: never on a closed or reused number */
						assert(ktab == K_OURS);
						STRICT_ENTRY(t);
						inkern[t] = 1;
						if
						:: data = 1
						:: data = 0
						fi;
						printf("C%d: fd_syscall: blocked in the kernel on side %d (data will come: %d)\n", t, d, data)
					fi }
				fi;
				if
				:: res == R_NONE ->
#ifdef HAVE_CLOSER
blocked:
#else
end_blocked:    /* no closer: a call may wait for data, or for a LATER
                   deadline's timer, forever */
#endif
					do
					:: atomic { pend[t] -> inkern[t] = 0; res = R_INTR;
						printf("C%d: the request wakes the syscall: EINTR\n", t) }
						break
					:: atomic { data -> inkern[t] = 0; data = 0; res = R_OK;
						printf("C%d: data: the syscall returns a result\n", t) }
						break
#ifdef NESTED
					:: atomic { nest ->          /* model: nested_publish */
						/* an application signal handler interrupts the
						 * syscall (SA_RESTART) and calls iio_fd_read on
						 * another descriptor: its call_begin publishes that
						 * descriptor's word */
						nest = 0;
						NESTED_PUBLISH(t);
						printf("C%d: application handler: nested call on another descriptor (source published: %d)\n", t, src[t]) }
						atomic {                 /* model: nested_restore */
							/* its call_end: iio_source_swap(previous = ours) */
							src[t] = d + 1;
							printf("C%d: nested call ends: source = deadline[%d] again; the syscall restarts\n", t, d) }
#endif
					od
				:: else
				fi;
				atomic {                         /* model: op_end */
					op_end_(t);
					data = 0;
					printf("C%d: op_end\n", t);
					if
					:: res == R_OK
					:: else -> res = R_NONE; w = 0  /* outcome_of: RECHECK: go on */
					fi
				}
				if
				:: res == R_OK -> break
				:: else                          /* op_begin again */
				fi
			od;
			/* call_end */
#ifdef VAR_END_CLEAR_FIRST
			fd_unpublish_(t);
#endif
			atomic {                             /* model: fd_leave */
				assert(CNT(calls[d]) > 0);
				cl = (calls[d] & CLOSED) != 0;   /* ghost: closed while counted */
#if defined(VAR_END_CHECK_BEFORE_LEAVE) && !defined(MUT_NO_EBADF_MAP)
				/* the CLOSED test on the word the leave CAS left
				 * (model: fd_end_check) */
				if
				:: res == R_TIMEDOUT && cl -> res = R_BADF
				:: else
				fi;
#endif
				calls[d]--;
				MOVED;
				w = calls[d];
				printf("C%d: fd_leave: calls[%d] = %d (CLOSED %d)\n", t, d, CNT(w), cl)
			}
#ifndef MUT_NO_WAKE
			if
			:: atomic { (w & CLOSED) && CNT(w) == 0 ->  /* model: fd_wake */
				/* FUTEX_WAKE on &f->calls[d]: an address only (see README) */
				if
				:: fwait == d + 1 -> fwait = 0;
					printf("C%d: fd_wake: FUTEX_WAKE calls[%d]: wakes the closer\n", t, d)
				:: else ->
					printf("C%d: fd_wake: FUTEX_WAKE calls[%d]: nobody waits there\n", t, d)
				fi }
			:: else
			fi;
#endif
#ifndef VAR_END_CLEAR_FIRST
			fd_unpublish_(t);
#endif
#ifndef VAR_END_CHECK_BEFORE_LEAVE
			if
			:: atomic { res == R_TIMEDOUT ->     /* model: fd_end_check */
#ifdef CHECK_FREE
				/* f is read after the count dropped */
				assert(!close_done);
#endif
#ifndef MUT_NO_EBADF_MAP
				if
				:: (calls[d] & CLOSED) -> res = R_BADF
				:: else
				fi;
#endif
				printf("C%d: fd_end_check: CLOSED %d\n", t, res == R_BADF) }
			:: else
			fi
#endif
		fi;
		/* the call returns res */
		atomic {
			printf("C%d: call on side %d returns %d (1 result, 2 ETIMEDOUT, 3 EBADF)\n", t, d, res);
			assert(res == R_OK || res == R_TIMEDOUT || res == R_BADF);
			/* P4: a timeout is a setter's passed deadline, never the
			 * close: never once CLOSED was set on its side while the call
			 * was counted */
			assert(res != R_TIMEDOUT || passed_set[d]);
			assert(res != R_TIMEDOUT || !cl);
			STRICT_RETURN(t);
			side[t] = 0;
			res = R_NONE; w = 0; data = 0; d = 0; cl = 0
		}
	:: else -> break
	od;
	atomic { ndone++; it = 0 }
}

/* ------------------------------------------------------------------ */
/* The setter: iio_fd_set_deadline(f, IIO_FD_READ, v)                 */
/* ------------------------------------------------------------------ */

#ifdef HAVE_SETTER
/* NSET settings on the read side: with 2, LATER, NEVER or PASSED, then
 * PASSED; with 1, PASSED (so once passed it stays passed: P3's premise) */
proctype Setter()
{
	byte k, v, old, c, i, sv;
	bit hit, refused;
	do
	:: k < NSET ->
		k++;
		if
		:: k < NSET ->
			if
			:: v = W_LATER
			:: v = W_NEVER
			:: v = W_PASSED
			fi
		:: else -> v = W_PASSED
		fi;
#ifdef MUT_SET_COUNT_FIRST
		atomic { c = CNT(calls[0]) }             /* the count before the word */
#endif
		atomic {                                 /* model: set_word */
			/* the CAS loop, linearised at its successful CAS */
			old = dl[0];
			if
			:: old == W_CLOSED ->
				refused = 1;
				printf("@%d set_word: CLOSED_WORD: -EBADF\n", _pid)
			:: else ->
				dl[0] = v;
				if
				:: v <= W_PASSED -> passed_set[0] = 1
				:: else
				fi;
				sbusy = v < old;
				printf("@%d set_word: deadline[0] %d -> %d\n", _pid, old, v)
			fi
		}
		if
		:: refused -> break
		:: else
		fi;
		if
		:: v < old ->
#ifndef MUT_SET_COUNT_FIRST
			atomic { c = CNT(calls[0]) }         /* model: set_count */
#endif
			if
			:: c != 0 ->
				printf("@%d set_count: %d in flight: scan\n", _pid, c);
				scan_(1, 0)
			:: else ->
				printf("@%d set_count: none in flight\n", _pid)
			fi
		:: else
		fi;
		atomic { sbusy = 0; v = 0; old = 0; c = 0 }
	:: else -> break
	od
}
#endif

/* ------------------------------------------------------------------ */
/* The closer: iio_fd_close, and another open() reusing the number    */
/* ------------------------------------------------------------------ */

#ifdef HAVE_CLOSER
inline close_mark_(s)
{
	atomic {                                     /* model: close_mark */
		/* atomic_fetch_or(&f->calls[s], CALL_CLOSED) */
		calls[s] = calls[s] | CLOSED;
		if
		:: s == 0 -> close_begun = 1
		:: else
		fi;
		printf("@%d close_mark: calls[%d] |= CLOSED (count %d)\n", _pid, s, CNT(calls[s]))
	}
}

inline close_word_(s)
{
	atomic {                                     /* model: close_word */
		dl[s] = W_CLOSED;
		cbusy = 1;
		printf("@%d close_word: deadline[%d] = CLOSED_WORD\n", _pid, s)
	}
}

proctype Closer()
{
	byte r, w, sd, i, sv;
	bit hit, scanned, again;
#ifdef MUT_CLOSE_WORD_FIRST
	close_word_(0);
	close_word_(1);
	close_mark_(0);
	close_mark_(1);
#else
	close_mark_(0);
	close_mark_(1);
#ifndef MUT_NO_CLOSED_WORD
	close_word_(0);
	close_word_(1);
#endif
#endif
	do
	::
		atomic {                                 /* model: close_count */
			r = calls[0];
			/* NO_TIMEOUT: a pass after the first only follows a change
			 * of a count, so the loop is bounded (see README) */
			LOOP_BOUNDED(again)
		}
		atomic { w = calls[1];                   /* model: close_count */
			printf("@%d close_count: read %d, write %d\n", _pid, CNT(r), CNT(w)) }
		if
#ifndef MUT_CLOSE_READ_ONLY
		:: CNT(r) == 0 && CNT(w) == 0 -> break
#else
		:: CNT(r) == 0 -> break
#endif
		:: else
		fi;
#ifdef VAR_SCAN_ONCE
		if
		:: !scanned ->
			scan_(1, 2);
			scanned = 1
		:: else
		fi;
#else
		scan_(1, 2);                             /* iio_source_recheck */
#endif
		sd = (CNT(r) != 0 -> 0 : 1);
#ifndef MUT_NO_FUTEX_WAIT
		atomic {                                 /* model: close_wait */
			/* FUTEX_WAIT(&f->calls[sd], r or w): sleeps only while the
			 * word is what was read */
			if
			:: calls[sd] == (sd == 0 -> r : w) ->
				fwait = sd + 1;
				printf("@%d close_wait: FUTEX_WAIT on calls[%d]\n", _pid, sd)
			:: else ->
				printf("@%d close_wait: calls[%d] moved: EAGAIN\n", _pid, sd)
			fi
		}
		if
		:: fwait != 0 ->
			if
			:: atomic { fwait == 0 ->
				printf("@%d woken\n", _pid) }
#ifndef NO_TIMEOUT
			:: atomic { fwait != 0 -> fwait = 0;
				printf("@%d the 5 ms timeout\n", _pid) }
#endif
			fi
		:: else
		fi;
#endif
		atomic { r = 0; w = 0; sd = 0 }
	od;
	atomic {                                     /* model: close_take */
		/* atomic_exchange(&f->number, -1) */
		number = NUM_NONE;
		printf("@%d close_take: number = -1\n", _pid)
	}
	atomic {                                     /* model: close_number */
		/* P1: nobody is in the kernel on the number it closes */
		assert(!inkern[0] && !inkern[1]);
		ktab = K_FREE;
		cbusy = 0;
		close_done = 1;
		printf("@%d close(2); iio_fd_close returns 0\n", _pid)
	}
}

/* another thread's open() gets the number the closer freed */
proctype Reopen()
{
end_reopen:
	atomic {
		ktab == K_FREE -> ktab = K_OTHER;
		printf("@%d open() reuses the number\n", _pid)
	}
}
#endif

/* ------------------------------------------------------------------ */
/* P3 as an invariant                                                 */
/* ------------------------------------------------------------------ */

/* A call in flight that read a later deadline than its side's word now
 * holds, not asked to re-check, while no setter or closer is still
 * between its store and its look for calls: nobody will tell it. */
#define STALE(t) (inop[t] && seen[t] != W_NONE && dl[side[t]] < seen[t] && \
                  !pend[t] && !(sbusy && side[t] == 0) && !cbusy)
active proctype Monitor()
{
end_mon:
	atomic {
		STALE(0) || STALE(1) ->
		printf("P3 violated: a call in flight read a later deadline than its side's word holds, and nobody will ask it to re-check\n");
		assert(false)
	}
}

init
{
	atomic {
		run Caller(0);
		run Caller(1);
#ifdef HAVE_SETTER
		run Setter();
#endif
#ifdef HAVE_CLOSER
		run Closer();
		run Reopen();
#endif
	}
}

/* ------------------------------------------------------------------ */
/* Liveness, under weak fairness (pan -a -f)                          */
/* ------------------------------------------------------------------ */

#define BLOCKED_ON(s) ((inkern[0] && side[0] == (s)) || (inkern[1] && side[1] == (s)))

#ifdef LTL_P2
/* P2: close terminates, and every caller returns, though data may never
 * arrive: close releases everyone */
ltl p2 { [] (close_begun -> <> (close_done && ndone == NC)) }
#endif

#ifdef LTL_P3
/* P3: once the read side's word is passed (a setter's, or CLOSED_WORD)
 * no caller stays blocked on the read side */
ltl p3 { [] ((dl[0] <= W_PASSED) -> <> !BLOCKED_ON(0)) }
#endif
