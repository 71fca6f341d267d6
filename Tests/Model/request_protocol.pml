/*
 * request_protocol.pml -- an exhaustive Promela model of InterruptIO's
 * request protocol (Sources/CInterruptIO). Tests/Model/README.md says what
 * is modelled, what is abstracted and which configuration checks which
 * property; Tests/Model/check.sh runs every configuration with spin.
 *
 * Every step that the C code marks "model: NAME" is a step here marked
 * "model: NAME" too (grep for it on both sides).
 *
 * One configuration is chosen with -D (spin -a -DCFG_WINDOW ...):
 *   CFG_WINDOW    PC-window entry, nested application handler (SA_RESTART
 *                 or not), cancel / sticky cancel / clear / deadline-changed
 *   CFG_PORTABLE  each operation picks the portable or the PC-window path;
 *                 resend timer; nested application handler
 *   CFG_DEADLINE  the timer thread (review, wheel, sleep, notify) against
 *                 op begin, a clock, deadline_set_for (hold),
 *                 deadline source + deadline_changed
 *   CFG_GROUPS    groups A and B (cancel, reset, join, leave), sticky
 *                 cancel and clear
 *   CFG_REUSE     thread exit, record reuse and retirement with stale
 *                 handles: cancel, sticky cancel, deadline_set_for
 * and with -DSHIELD (on CFG_WINDOW, CFG_PORTABLE, CFG_GROUPS): target 0's
 * first call runs in a shield (shield.c), its next one after it
 *
 * Memory is sequentially consistent: every atomic the protocol's reasoning
 * depends on is seq_cst in the C code, except op begin's relaxed store of
 * the call deadline, which the op-begin CAS orders (see README).
 */

/* ------------------------------------------------------------------ */
/* Configuration                                                      */
/* ------------------------------------------------------------------ */

#if !defined(CFG_WINDOW) && !defined(CFG_PORTABLE) && !defined(CFG_DEADLINE) && !defined(CFG_GROUPS) && !defined(CFG_REUSE)
#define CFG_WINDOW 1
#endif

#define NT 2            /* target threads (records)                    */

/* Each configuration's defaults; any of them can be overridden with -D. */
#ifdef CFG_WINDOW
#define MODE_WINDOW 1
#define HAVE_APP 1      /* an application handler H nests on target 0  */
#define COMPLETE 1      /* a syscall may finish on its own, until CANCEL */
#ifndef NOPS
#define NOPS 2          /* calls per thread lifetime                  */
#endif
#define NLIFE 1
#endif

#ifdef CFG_PORTABLE
#ifndef MODE_MIXED
#define MODE_PORTABLE 1
#endif
#define HAVE_APP 1
#define HAVE_TIMER 1
#define COMPLETE 1
#ifndef NOPS
#define NOPS 2
#endif
#ifndef NOPS1
#define NOPS1 1
#endif
#define NLIFE 1
#endif

#ifdef CFG_DEADLINE
/* -DDL_SOURCE: the deadline-source setter on T1 instead of
 * deadline_set_for on T0 (both at once exceed the budget) */
#define MODE_WINDOW 1
#define HAVE_DEADLINES 1
#ifndef WITH_DELIVERY
#define ABSTRACT_DELIVERY 1  /* a request in flight wakes the call: P1 of
                                CFG_WINDOW / CFG_PORTABLE, used here */
#endif
#define COMPLETE 0      /* a call ends only by its deadline or a request */
#ifndef NOPS
#define NOPS 1
#endif
#define NLIFE 1
#ifndef GEN_BITS
#define GEN_BITS 1      /* a wrapping generation: requests can name a later op */
#endif
#ifndef TMAX
#define TMAX 2
#endif
#endif

#ifdef CFG_GROUPS
#define MODE_WINDOW 1
#define HAVE_GROUPS 1
#define COMPLETE 1
#define NLIFE 1
#endif

#ifdef CFG_REUSE
#define MODE_WINDOW 1
#define COMPLETE 1
#ifndef NOPS
#define NOPS 1
#endif
#define NLIFE 3         /* bounded anyway by retirement (INC_MAX)      */
#ifndef INC_START
#define INC_START 1     /* the records were used once: 2 lifetimes, then retired */
#endif
#endif

#ifndef GEN_BITS
#define GEN_BITS 2
#endif
#ifndef INC_START
#define INC_START 0
#endif
#ifndef NOPS1
#define NOPS1 NOPS      /* target 1's calls                            */
#endif
#ifndef NAPP_DEFAULT
#define NAPP_DEFAULT 1
#endif
#ifndef NAPP
#define NAPP NAPP_DEFAULT          /* application handler runs per target 0       */
#endif

/* ------------------------------------------------------------------ */
/* The state word (internal.h), narrowed                              */
/* ------------------------------------------------------------------ */

#define IN_OP      1
#define CANCEL     2
#define RSH        2
#define RMASK      12
#define EXITED     16
#define STICKY     32
#define CLEANUP    64
#define PORTABLE   128
#define HSH        8
#define HONE       256
#define HMASK      1792          /* HOLDERS: 3 bits (8..10)          */
#define HMAX       7
#define GSH        11
#define GONE       2048
#define GMASK      6144          /* GROUPS: 2 bits (11..12)          */
#define GMAXV      3
#ifndef INC_BITS
#define INC_BITS   2
#endif
#define ISH        13
#define INC_MAX    ((1 << INC_BITS) - 1)  /* a record there is retired */
#define IMASK      (INC_MAX << ISH)
#define GENSH      (ISH + INC_BITS)
#define GEN_MAX    ((1 << GEN_BITS) - 1)
#define GENMASK    (GEN_MAX << GENSH)

#define REASON(s)  (((s) & RMASK) >> RSH)
#define HOLDERS(s) (((s) & HMASK) >> HSH)
#define GROUPS(s)  (((s) & GMASK) >> GSH)
#define INC(s)     (((s) >> ISH) & INC_MAX)
#define GEN(s)     (((s) >> GENSH) & GEN_MAX)
#define OP_BITS    (IN_OP | CANCEL | RMASK | CLEANUP | PORTABLE)
/* KEPT: bit 14 in the C word; here above the generation, where there is
 * room (the place does not matter, only that no field's arithmetic
 * reaches it) */
#define KEPT       (1 << (GENSH + GEN_BITS))
#define CANCELLED_BITS (STICKY | GMASK | KEPT)
#define GEN_BUMP(s) (((s) & ~GENMASK) | (((GEN(s) + 1) & GEN_MAX) << GENSH))
/* iio_st_exited */
#ifndef MUT_NO_INC_BUMP
#define EXITED_OF(s) ((((s) & ~(OP_BITS | IMASK | GMASK | STICKY | KEPT))) | \
                      (((INC(s) + 1) & INC_MAX) << ISH) | EXITED)
#else
#define EXITED_OF(s) (((s) & ~(OP_BITS | GMASK | STICKY | KEPT)) | EXITED)
#endif

/* reasons */
#define R_RECHECK  1
#define R_DEADLINE 2
#define R_CANCEL   3
/* request flags */
#define F_STICKY   1
#define F_GROUP    2
#define ANY        255           /* IIO_ANY_OPERATION                 */
/* results */
#define E_NONE     0
#define E_OK       1             /* the syscall's own result          */
#define E_INTR     2
#define E_CANCELED 3
#define E_TIMEDOUT 4
/* iio_request's return, plus "held": the CAS took a hold, send next */
#define RQ_ESRCH   3
#define RQ_HELD    2

/* where the target's program counter is, as the handler sees it      */
#define PC_OUT     0             /* anywhere outside [cp_begin, cp_end) */
#define PC_WIN     1             /* inside the window: testb, jnz, syscall */
#define PC_SYS     2             /* blocked in the kernel               */
/* how a blocked syscall was interrupted                               */
#define I_NONE     0
#define I_EINTR    1

#define NEVER      7             /* IIO_NEVER in the small clock       */

/* ------------------------------------------------------------------ */
/* Shared state                                                       */
/* ------------------------------------------------------------------ */

int  st[NT] = (EXITED | (INC_START << ISH));   /* rec->state          */

/* the kernel's view of each target thread (ghost-ish, exact)          */
byte pc[NT];           /* PC_*                                         */
byte intr[NT];         /* I_*: set when a blocked syscall is interrupted */
bit  redir[NT];        /* the handler moved the saved PC to iio_cp_cancel */
byte sigpend[NT];      /* our signals queued by rt_tgsigqueueinfo       */
bit  blocked_main[NT]; /* our signal blocked in the thread's own context */
bit  in_app[NT];       /* the application's handler H is running        */
bit  blocked_app[NT];  /* our signal blocked inside H                   */
bit  deferred[NT];     /* iio_tls_signal_deferred                       */

#ifdef HAVE_TIMER
bit  tmade[NT];        /* rec->resend_timer >= 0                       */
bit  tarmed[NT];       /* the resend timer is armed                    */
bit  tpend[NT];        /* its one signal is pending                    */
byte tlife[NT];        /* ghost: the thread lifetime the timer signals */
#endif

#ifdef HAVE_DEADLINES
byte clock;                  /* the monotonic clock, 0..TMAX           */
byte thread_deadline[NT] = NEVER;  /* rec->thread_deadline_ns          */
byte op_deadline[NT] = NEVER;      /* rec->op_deadline_ns              */
byte scheduled[NT] = NEVER;        /* rec->scheduled_ns                */
byte wheel[NT] = NEVER;            /* the driver's TimerWheel: where each
                                      record is filed (review's return)  */
byte source[NT] = NEVER;           /* the deadline source word         */
bit  queued[NT];                   /* rec->queued                      */
byte stack;                        /* notified_stack, as a set          */
byte sleeps_until = NEVER;         /* driver_sleeps_until (0: awake)    */
bit  woken;                        /* wake_word moved since the driver's
                                      `seen = wake_word` (all that FUTEX_WAIT
                                      compares)                          */
byte reviewing;                    /* ghost: record+1 the driver holds  */
bit  drv_waiting;                  /* ghost: driver in FUTEX_WAIT       */
bit  setter_busy[NT];              /* ghost: a setter between its store
                                      and the end of its request        */
byte drv_until = NEVER;            /* ghost copy of its `until`         */
#endif

#ifdef HAVE_GROUPS
#define NG 2
bit  glock[NG];          /* group->lock                                */
bit  gcancelled[NG];     /* group->cancelled                           */
bit  gmem[NG * NT];      /* record r is a member of group g            */
bit  gcnt[NG * NT];      /* member->counted                            */
byte gminc[NG * NT];     /* member->thread.incarnation                 */
byte gmlife[NG * NT];    /* ghost: the lifetime that joined            */
#endif

/* ghosts for the properties                                            */
byte lifetime[NT];     /* which thread owns the record (bumped at bind) */
bit  alive[NT];        /* that thread exists                            */
bit  creq[NT];         /* a CANCEL-reason request landed in this op     */
bit  sticky_g[NT];     /* a sticky cancel is in force (set/cleared with the CAS) */
bit  gapp[2 * NT];     /* group g's cancel is counted in r's GROUPS     */
bit  tdone[NT];        /* the target process has finished for good     */
bit  shield[NT];       /* iio_tls_shield_depth != 0 (the owner's own)   */
bit  landed_g[NT];     /* ghost: a cancel request landed in the shielded
                          call in flight (request_in_flight or
                          request_upgrade); its op end moves it on:     */
bit  kept_g[NT];       /* ghost: ... to here, a kept cancel no call after
                          the shield has failed for yet: whatever the
                          call did, P6 says the first call after the
                          shield fails (unless iio_clear_cancel clears
                          it first)                                    */
#ifdef HAVE_APP
byte napp = NAPP;      /* application handler runs left (target 0)      */
#endif

#define APPLIED(r) (sticky_g[r] || gapp[r] || gapp[NT + (r)])
#define MIN(a, b) ((a) < (b) -> (a) : (b))

/* ------------------------------------------------------------------ */
/* Requests (cancel.c)                                                */
/* ------------------------------------------------------------------ */

/* iio_send_signal / interrupt(): to the held record's thread.  P4: only
 * ever to a live thread, the one the handle names, under a hold. */
inline send_(r, hlife, requested)
{
#if defined(HAVE_TIMER) && !defined(MUT_NO_TIMER)
	if
	:: (requested & PORTABLE) ->
		/* resend_timer_of + set_resend_timer(id, 1, 200us) */
		atomic {
			assert(alive[r] && lifetime[r] == hlife && HOLDERS(st[r]) > 0);
			if
			:: !tmade[r] -> tmade[r] = 1; tlife[r] = lifetime[r]
			:: else
			fi;
			printf("@%d send: arm T%d's resend timer\n", _pid, r);
			tarmed[r] = 1
		}
	:: else ->
#endif
		atomic {
			assert(alive[r] && lifetime[r] == hlife &&
#ifndef MUT_NO_HOLD
			       HOLDERS(st[r]) > 0 &&
#endif
			       !(st[r] & EXITED));
#ifndef ABSTRACT_DELIVERY
			printf("@%d send: signal to T%d\n", _pid, r);
			sigpend[r]++
#endif
		}
#if defined(HAVE_TIMER) && !defined(MUT_NO_TIMER)
	fi
#endif
}

/* iio_request(rec, hinc, gen, reason, flags); grp: the group for
 * F_GROUP.  The CAS loop is one atomic read-modify-write: it is
 * linearised at its successful CAS, and every early return is decided on
 * a value it has just loaded.  Leaves rq_ret in {0, 1, RQ_ESRCH}. */
inline request_(r, hinc, hlife, gen, reason, flags, grp)
{
	atomic {
		rs = st[r];
		if
		:: (rs & EXITED) || INC(rs) != hinc ->
			printf("@%d request to T%d: -ESRCH (exited, or another incarnation)\n", _pid, r);
			rq_ret = RQ_ESRCH
		:: else ->
			/* P2: a handle only ever reaches the thread it names */
			assert(lifetime[r] == hlife);
			rnext = rs | (((flags) & F_STICKY) -> STICKY : 0);
			if
			:: ((flags) & F_GROUP) ->
				assert(GROUPS(rs) < GMAXV);
				rnext = rnext + GONE;
				gapp[grp * NT + r] = 1
			:: else
			fi;
			if
			:: ((flags) & F_STICKY) -> sticky_g[r] = 1
			:: else
			fi;
			if
			:: !((rs & IN_OP) && (gen == ANY || GEN(rs) == gen)) ->
				/* model: request_idle */
				printf("@%d request_idle T%d (reason %d, flags %d): no op in flight\n", _pid, r, reason, flags);
				st[r] = rnext;
				rq_ret = 0
			:: else ->
				if
				:: (rs & CANCEL) ->
					/* model: request_upgrade */
					if
					:: reason > REASON(rs) ->
						rnext = (rnext & ~RMASK) | (reason << RSH)
					:: else
					fi;
#ifndef MUT_OLD_KEEP
					if
					:: reason == R_CANCEL -> rnext = rnext | CLEANUP
					:: else
					fi;
#endif
					printf("@%d request_upgrade T%d: reason %d -> %d\n", _pid, r, REASON(rs), REASON(rnext));
					st[r] = rnext;
					rq_ret = 1
				:: else ->
					/* model: request_in_flight */
					assert(HOLDERS(rs) < HMAX);
#ifndef MUT_NO_HOLD
					rnext = ((rnext & ~RMASK) | CANCEL | (reason << RSH)) + HONE;
#else
					rnext = ((rnext & ~RMASK) | CANCEL | (reason << RSH));
#endif
					if
#ifndef MUT_OLD_KEEP
					:: (rs & PORTABLE) || reason == R_CANCEL -> rnext = rnext | CLEANUP
#else
					:: (rs & PORTABLE) -> rnext = rnext | CLEANUP
#endif
					:: else
					fi;
					printf("@%d request_in_flight T%d: CANCEL, reason %d, hold (gen %d)\n", _pid, r, reason, GEN(rs));
					st[r] = rnext;
					rq_ret = RQ_HELD
				fi;
				if
				:: reason == R_CANCEL -> creq[r] = 1
				:: else
				fi;
				if                                   /* P6's ghost */
				:: reason == R_CANCEL && shield[r] -> landed_g[r] = 1
				:: else
				fi
			fi
		fi;
#ifdef HAVE_DEADLINES
		if                                   /* a setter's re-check: it */
		:: reason == R_RECHECK -> setter_busy[r] = 0   /* has told    */
		:: else
		fi;
#endif
		rs = 0
	}
	if
	:: rq_ret == RQ_HELD ->
#ifndef ABSTRACT_DELIVERY
		send_(r, hlife, rnext);              /* model: send */
#endif
		atomic {                             /* model: release */
#ifdef ABSTRACT_DELIVERY
			send_(r, hlife, rnext);          /* model: send (no signal) */
#endif
#ifndef MUT_NO_HOLD
			st[r] = st[r] - HONE;
#endif
			printf("@%d release T%d\n", _pid, r);
			rq_ret = 1;
			rnext = 0
		}
	:: else -> rnext = 0
	fi
}

/* iio_hold: 1 in held if taken */
inline hold_(r, hinc, hlife)
{
	atomic {                                     /* model: hold */
		if
		:: (st[r] & EXITED) || INC(st[r]) != hinc -> held = 0
		:: else ->
			assert(lifetime[r] == hlife);        /* P2 */
			assert(HOLDERS(st[r]) < HMAX);
			st[r] = st[r] + HONE;
			printf("@%d hold T%d\n", _pid, r);
			held = 1
		fi
	}
}

inline release_(r)
{
	atomic {
		st[r] = st[r] - HONE;                    /* model: release */
		printf("@%d release T%d\n", _pid, r)
	}
}

/* iio_clear_cancel */
inline clear_sticky_(r, hinc, hlife)
{
	atomic {                                     /* model: clear_sticky */
		if
		:: (st[r] & EXITED) || INC(st[r]) != hinc -> skip
		:: else ->
			assert(lifetime[r] == hlife);
#ifndef MUT_CLEAR_ALL
			if                                   /* a kept cancel too; one */
			:: (st[r] & KEPT) -> kept_g[r] = 0   /* whose op end has not */
			:: else                              /* yet set KEPT is kept */
			fi;                                  /* after it: not lost */
			st[r] = st[r] & ~(STICKY | KEPT);
#else
			st[r] = st[r] & ~(STICKY | GMASK);
#endif
			printf("@%d clear_sticky T%d\n", _pid, r);
			sticky_g[r] = 0
		fi
	}
}

/* iio_ungroup, for group grp */
inline ungroup_(r, hinc, hlife, grp)
{
	atomic {                                     /* model: ungroup */
		if
		:: (st[r] & EXITED) || INC(st[r]) != hinc -> skip
		:: else ->
			assert(lifetime[r] == hlife);
			/* "cannot happen while group.c counts right" */
			assert(GROUPS(st[r]) > 0);
			/* P5: only ever undoes this group's own cancel */
			assert(gapp[grp * NT + r]);
#ifndef MUT_RESET_ALL
			st[r] = st[r] - GONE;
#else
			st[r] = st[r] & ~GMASK;
#endif
			printf("@%d ungroup T%d (group %d)\n", _pid, r, grp);
			gapp[grp * NT + r] = 0
		fi
	}
}

/* A requester learns a handle (iio_self on the target, published): only
 * while the thread lives; it may use it long after. */
inline take_handle_(r, hinc, hlife)
{
	if
	:: atomic { alive[r] && !(st[r] & EXITED) ->   /* iio_self */
		hinc = INC(st[r]); hlife = lifetime[r] }
	:: atomic { tdone[r] -> hinc = 255; hlife = 0 }  /* never had one */
	fi
}

/* ------------------------------------------------------------------ */
/* The timer thread's side (deadline.c)                               */
/* ------------------------------------------------------------------ */

#ifdef HAVE_DEADLINES
/* iio_timer_notify (driver_running: the driver is always up here) */
inline notify_(r, d)
{
	atomic { nq = queued[r]; queued[r] = 1;      /* exchange(queued, 1) */
		printf("T%d: notify (deadline %d): queued was %d\n", r, d, nq) };
	if
	:: nq == 0 -> stack = stack | (1 << r)       /* push (CAS loop)      */
	:: else
	fi;
	atomic {
		nq = 0;
		if
		:: d < sleeps_until ->                   /* load driver_sleeps_until */
			printf("T%d: wake the driver (it sleeps until %d)\n", r, sleeps_until);
			woken = 1                            /* wake_driver: add + FUTEX_WAKE */
		:: else
		fi
	}
}
#endif

/* ------------------------------------------------------------------ */
/* The target's operations (syscall.c)                                */
/* ------------------------------------------------------------------ */

/* After an op, our signal is unblocked and no resend timer runs: the
 * next op can be interrupted (no wake-up is lost later). */
#ifdef HAVE_TIMER
#define OP_END_CLEAN(r) assert(!blocked_main[r] && !deferred[r] && !tarmed[r])
#else
#define OP_END_CLEAN(r) assert(!blocked_main[r] && !deferred[r])
#endif

/* op_end: waits for HOLDERS == 0 (P3), clears the op bits; fin is the word
 * just before; then iio_op_cleanup when CLEANUP was set. */
inline op_end_(r)
{
	atomic {                                     /* model: op_end */
		HOLDERS(st[r]) == 0 ->
		fin = st[r];
		st[r] = st[r] & ~OP_BITS;
		printf("T%d: op_end (reason %d, cleanup %d)\n", r, REASON(fin), (fin & CLEANUP) != 0);
		fcreq = creq[r];
		if
		:: !(fin & CLEANUP) -> OP_END_CLEAN(r)
		:: else
		fi
	}
	if
	:: (fin & CLEANUP) ->
		atomic {                                 /* iio_op_cleanup */
#if !defined(MUT_SHIELD_DROPS) && !defined(MUT_OLD_KEEP)
			if                                   /* model: keep */
			:: REASON(fin) == R_CANCEL && shield[r] -> st[r] = st[r] | KEPT
			:: else
			fi;
#endif
			if                                   /* P6's ghost: this op's */
			:: landed_g[r] -> kept_g[r] = 1; landed_g[r] = 0  /* cancel is */
			:: else                              /* now the one kept */
			fi;
#ifdef HAVE_TIMER
			tarmed[r] = 0;                       /* set_resend_timer(id, 0, 0) */
#endif
			if
			:: deferred[r] -> deferred[r] = 0; blocked_main[r] = 0   /* SIG_UNBLOCK */
			:: else
			fi;
			OP_END_CLEAN(r)
		}
	:: else
	fi
}

/* op_begin: began = 1, or res = the error */
inline op_begin_(r)
{
	began = 0;
#if defined(MODE_MIXED)
	if                                           /* iio_mode: target 0 */
	:: r == 0 -> portable = 0                    /* switches per op;   */
	:: portable = 1                              /* target 1 portable  */
	fi;
#elif defined(MODE_PORTABLE)
	portable = 1;
#else
	portable = 0;
#endif
#ifdef HAVE_DEADLINES
	/* the call's deadline: a relaxed store the CAS below orders */
	op_deadline[r] = calldl;
#endif
#ifdef MUT_NOTIFY_EARLY
	nq = scheduled[r];                           /* loaded before the CAS */
#endif
	atomic {                                     /* model: op_begin */
		s = st[r];
		if
		:: (s & CANCELLED_BITS) && !shield[r] ->
			/* P5: fails only while a sticky or group cancel is in force,
			 * or for the cancel a shield kept (P6) */
			assert(APPLIED(r) || ((s & KEPT) && kept_g[r]));
			printf("T%d: op_begin fails: ECANCELED (sticky, group or kept)\n", r);
			st[r] = st[r] & ~KEPT;               /* the kept one is spent */
			kept_g[r] = 0;
			res = E_CANCELED
		:: else ->
			/* P5/P2: nothing stale fails it; P6: nothing kept is lost */
			assert(shield[r] || (!APPLIED(r) && !kept_g[r] && !landed_g[r]));
			/* the last op end left nothing of that op behind */
			assert(!(s & OP_BITS));
			st[r] = GEN_BUMP(s) | IN_OP | (portable -> PORTABLE : 0);
			printf("T%d: op_begin gen %d (portable %d)\n", r, GEN(st[r]), portable);
			creq[r] = 0;
			began = 1
		fi;
		s = 0
	}
#ifdef HAVE_DEADLINES
	if
	:: began ->
		dl = calldl;
		/* The C code also reads the thread's deadline and the source word
		 * before the CAS, stores that candidate before it, and after it
		 * stores again only if a re-read differs. Storing only here, after
		 * the CAS, as the model does, is the weaker order: what the model
		 * proves for it holds for the C. */
		atomic {                                 /* iio_effective_deadline: */
			t1 = MIN(thread_deadline[r], source[r])  /* two loads, one step */
		}
		if
		:: t1 < dl ->
			dl = t1;
			atomic {
				op_deadline[r] = dl;             /* model: op_lower */
				printf("T%d: op_lower op_deadline = %d\n", r, dl)
			}
		:: else
		fi;
		t1 = 0;
		if
		:: dl != NEVER ->
			if
			:: clock >= dl ->                    /* iio_deadline_passed */
				printf("T%d: deadline %d passed at op begin\n", r, dl);
				op_end_(r);
				fin = 0; fcreq = 0;
				began = 0;
				res = E_TIMEDOUT
			:: else ->
				if
#ifndef MUT_NOTIFY_EARLY
				:: dl < scheduled[r] ->          /* model: op_notify */
#else
				:: dl < nq -> nq = 0;
#endif
					notify_(r, dl)
				:: else
				fi
			fi
		:: else
		fi;
		dl = 0
	:: else
	fi
#endif
}

#ifdef HAVE_APP
/* The application's own handler H for another signal, interrupting a
 * blocked syscall of target 0 (NAPP times in all). With SA_RESTART the
 * kernel rewinds the call onto its syscall instruction (inside the window
 * for a PC-window op); without it, a foreign EINTR. H's sa_mask may or may
 * not block ours. H runs between the two steps below; the target does
 * nothing else meanwhile, and our signal may be delivered nested in it.
 * H only starts while no request is pending (CANCEL clear): its foreign
 * EINTR is an event outside the protocol, and must not be what ends an op
 * whose wake-up the protocol lost, or the check would not see the loss.
 * A request made while H runs is delivered nested in it, as before.
 * (H interrupting the target anywhere else only delays it: a signal of ours
 * nested there is deferred to the same point, where it lands as if H had
 * not run.) */
inline app_(r, restart_pc)
{
	atomic {
		r == 0 && napp > 0 && pc[r] == PC_SYS && !(st[r] & CANCEL) ->
		napp--;
		in_app[r] = 1;
		if
		:: blocked_app[r] = blocked_main[r]
		:: blocked_app[r] = 1
		fi;
		if
		:: pc[r] = restart_pc                /* SA_RESTART: rewound     */
		:: pc[r] = PC_OUT; res = E_INTR      /* no SA_RESTART: EINTR    */
		fi;
		printf("T%d: application handler H interrupts the syscall: SA_RESTART (rewound) %d; H masks ours %d\n", r, res != E_INTR, blocked_app[r])
	}
	atomic { in_app[r] = 0; blocked_app[r] = 0;      /* H returns: sigreturn */
		printf("T%d: H returns\n", r) }
}

#endif

/* enter(): the PC-window stub or the portable path; res = E_OK, E_INTR
 * or E_CANCELED. */
inline enter_(r)
{
#ifdef ABSTRACT_DELIVERY
	/* The stub's test, the syscall, and the wake-up that CFG_WINDOW and
	 * CFG_PORTABLE prove for a request in flight (no signal modelled). */
	atomic {
		if
		:: (st[r] & CANCEL) -> res = E_CANCELED
		:: else -> pc[r] = PC_SYS; res = E_NONE
		fi;
		printf("T%d: stub: CANCEL %d, %d = blocked in the syscall\n", r, res == E_CANCELED, res == E_NONE)
	}
	if
	:: res == E_NONE ->
		atomic { (st[r] & CANCEL) -> pc[r] = PC_OUT; res = E_INTR;
			printf("T%d: the request wakes the syscall\n", r) }
	:: else
	fi
#else
	if
	:: !portable ->
		/* iio_cp_syscall: the movs (outside), then iio_cp_begin: testb;
		 * jnz iio_cp_cancel. (A redirect before the testb ends like the
		 * testb itself: the handler redirects only when CANCEL is set.) */
		atomic {
			pc[r] = PC_WIN;
			if
			:: (st[r] & CANCEL) -> pc[r] = PC_OUT; res = E_CANCELED
			:: else -> res = E_NONE
			fi;
			printf("T%d: window testb: CANCEL %d\n", r, res == E_CANCELED)
		}
		do
		:: res != E_NONE -> break
		:: res == E_NONE ->
			if
			:: atomic { redir[r] -> redir[r] = 0; pc[r] = PC_OUT; res = E_CANCELED;
				printf("T%d: redirected to iio_cp_cancel: ECANCELED\n", r) }
			:: atomic { !redir[r] -> pc[r] = PC_SYS;     /* syscall */
				printf("T%d: syscall: blocked in the kernel\n", r) }
				/* blocked in the kernel until: */
				if
				:: atomic { intr[r] == I_EINTR -> intr[r] = I_NONE; res = E_INTR;
					printf("T%d: syscall returns EINTR\n", r) }
#ifdef HAVE_APP
				:: app_(r, PC_WIN)
#endif
				:: atomic { COMPLETE && pc[r] == PC_SYS && !(st[r] & CANCEL) ->
					pc[r] = PC_OUT; res = E_OK;
					printf("T%d: syscall completes on its own\n", r) }
				fi
			fi
		od
	:: else ->
		/* portable_syscall */
		atomic {                                 /* model: portable_check */
			if
			:: (st[r] & CANCEL) -> res = E_CANCELED
			:: else -> res = E_NONE
			fi;
			printf("T%d: portable_check: CANCEL %d\n", r, res == E_CANCELED)
		}
		do
		:: res != E_NONE -> break
		:: res == E_NONE ->
			/* the gap: a signal here is spent */
			atomic { pc[r] = PC_SYS;             /* model: portable_syscall */
				printf("T%d: portable_syscall: blocked in the kernel\n", r) }
			if
			:: atomic { intr[r] == I_EINTR -> intr[r] = I_NONE; res = E_INTR;
				printf("T%d: syscall returns EINTR\n", r) }
#ifdef HAVE_APP
			:: app_(r, PC_OUT)
#endif
			:: atomic { COMPLETE && pc[r] == PC_SYS && !(st[r] & CANCEL) ->
				pc[r] = PC_OUT; res = E_OK;
				printf("T%d: syscall completes on its own\n", r) }
			fi
		od
	fi
#endif
}

/* outcome_of(final word): res = E_CANCELED / E_TIMEDOUT, or E_NONE to go on */
inline outcome_(r)
{
	if
	:: REASON(fin) == R_CANCEL ->
		/* P2: a cancel of an earlier op never fails this one */
		assert(fcreq);
		if
		:: shield[r] ->                          /* shielded: go on (op end kept it) */
#ifdef MUT_OLD_KEEP
			st[r] = st[r] | KEPT;                /* mutant: kept only here */
#endif
			res = E_NONE
		:: else -> res = E_CANCELED
		fi
#ifdef HAVE_DEADLINES
	:: REASON(fin) == R_DEADLINE ->
		atomic {     /* iio_deadline_passed(iio_effective_deadline(rec)) */
			t1 = MIN(calldl, thread_deadline[r]);
			t1 = MIN(t1, source[r]);
			if
			:: clock >= t1 -> res = E_TIMEDOUT
			:: else -> res = E_NONE
			fi;
			t1 = 0
		}
#endif
	:: else -> res = E_NONE
	fi;
	fin = 0; fcreq = 0
}

/* One wrapper call (iio_read: RETRY_EINTR): op_begin, op_call_and_end. */
inline call_(r)
{
	res = E_NONE;
#ifdef HAVE_DEADLINES
	/* target 0: no call deadline, its own thread deadline (set before,
	 * by iio_deadline_set) bounds it; target 1: a call deadline of 2 */
	calldl = ((r == 0) -> NEVER : 2);
#endif
	op_begin_(r);
	do
	:: !began -> break
	:: began ->
		enter_(r);
		if
		:: res == E_OK ->
			op_end_(r); fin = 0; fcreq = 0;
			break
		:: else ->
#ifndef ABSTRACT_DELIVERY  /* (there, only a request in flight wakes it) */
			atomic {
				s = st[r];                           /* load (acquire) */
				if
				:: !(s & CANCEL) ->
					/* P2: a stale signal never yields ECANCELED */
					assert(res == E_INTR);
					res = E_NONE                     /* foreign EINTR: retried */
				:: else -> skip
				fi;
				s = 0
			}
#endif
			if
			:: res == E_NONE -> skip
			:: else ->
				op_end_(r);
				outcome_(r);
				if
				:: res != E_NONE -> break
				:: else ->                           /* re-check: go on */
					op_begin_(r)
				fi
			fi
		fi
	od;
	printf("T%d: call returns %d (1 result, 3 ECANCELED, 4 ETIMEDOUT)\n", r, res);
	/* P6: a cancel never ends a shielded call */
	assert(!(shield[r] && res == E_CANCELED));
	began = 0;
	portable = 0;
#ifdef HAVE_DEADLINES
	calldl = 0;
#endif
	res = E_NONE
}

/* ------------------------------------------------------------------ */
/* Thread life (thread.c)                                             */
/* ------------------------------------------------------------------ */

inline bind_(r)
{
	atomic {
#ifdef HAVE_DEADLINES
		thread_deadline[r] = NEVER;              /* owner-only stores,   */
		op_deadline[r] = NEVER;                  /* before the CAS       */
#endif
		/* model: bind */
		st[r] = st[r] & ~(EXITED | STICKY | GMASK | OP_BITS);
#ifdef HAVE_DEADLINES
		if                                       /* and then T0's own  */
		:: r == 0 -> thread_deadline[r] = 1      /* model: set_own     */
		:: else
		fi;
#endif
		lifetime[r]++;
		printf("T%d: bind: thread %d on the record, incarnation %d\n", r, lifetime[r], INC(st[r]));
		alive[r] = 1;
		pc[r] = PC_OUT;
		blocked_main[r] = 0                      /* SIG_UNBLOCK */
	}
}

/* iio_shield_begin / iio_shield_end, around target 0's first call */
#ifdef SHIELD
#define SHIELD_BEGIN(r) shield[r] = (r == 0)
#else
#define SHIELD_BEGIN(r) skip
#endif
#define SHIELD_END(r) shield[r] = 0

inline exit_(r)
{
	atomic {                                     /* model: exit */
		HOLDERS(st[r]) == 0 ->
		st[r] = EXITED_OF(st[r]);
		printf("T%d: exit: incarnation -> %d\n", r, INC(st[r]));
		sticky_g[r] = 0;
		kept_g[r] = 0;
		landed_g[r] = 0;
		gapp[r] = 0;
		gapp[NT + r] = 0
	}
#ifdef HAVE_TIMER
	atomic { tmade[r] = 0; tarmed[r] = 0 };      /* iio_resend_timer_delete */
#endif
	/* the deadline stores, put_free; the thread is gone, and its pending
	 * signals with it */
	atomic {
#ifdef HAVE_DEADLINES
		thread_deadline[r] = NEVER;
		op_deadline[r] = NEVER;
#endif
		alive[r] = 0;
		sigpend[r] = 0;
#ifdef HAVE_TIMER
		tpend[r] = 0;
#endif
		blocked_main[r] = 0;
		deferred[r] = 0;
		redir[r] = 0;
		intr[r] = I_NONE;
		pc[r] = PC_OUT
	}
}

/* ------------------------------------------------------------------ */
/* Groups (group.c): the thread's own join / leave                    */
/* ------------------------------------------------------------------ */

#ifdef HAVE_GROUPS
/* Everything of a group's own (members, counted, cancelled) is only
 * touched under its mutex, so it moves in the same step as the mutex or as
 * the state-word CAS it goes with; only the CASes interleave. */
inline join_(r, g)
{
	atomic {
		glock[g] == 0 -> glock[g] = 1;           /* lock_for_caller */
		gmem[g * NT + r] = 1;
		gcnt[g * NT + r] = gcancelled[g];        /* count_cancel if cancelled */
		gminc[g * NT + r] = INC(st[r]);
		gmlife[g * NT + r] = lifetime[r]
	}
	if
	:: gcnt[g * NT + r] ->
		request_(r, gminc[g * NT + r], gmlife[g * NT + r], ANY, R_CANCEL, F_GROUP, g)
	:: else
	fi;
	glock[g] = 0
}

inline leave_(r, g)
{
	atomic {
		glock[g] == 0 -> glock[g] = 1;
		grq = gmem[g * NT + r] && gcnt[g * NT + r];
		gcnt[g * NT + r] = 0
	}
	if
	:: grq -> ungroup_(r, gminc[g * NT + r], gmlife[g * NT + r], g)   /* uncount_cancel */
	:: else
	fi;
	atomic {
		grq = 0;
		gmem[g * NT + r] = 0;
		/* P5: this group's cancel is gone from the leaver */
		assert(!gapp[g * NT + r]);
		glock[g] = 0
	}
}

/* set_cancelled(group, c), by another thread */
inline set_cancelled_(g, c)
{
	atomic { glock[g] == 0 -> glock[g] = 1; gcancelled[g] = c; i = 0 };
	do
	:: atomic {
		i < NT ->
		grq = (c && gmem[g * NT + i] && !gcnt[g * NT + i]) ||
		      (!c && gmem[g * NT + i] && gcnt[g * NT + i]);
		if
		:: grq -> gcnt[g * NT + i] = c
		:: else -> i++
		fi
	   }
	   if
	   :: grq && c ->
		request_(i, gminc[g * NT + i], gmlife[g * NT + i], ANY, R_CANCEL, F_GROUP, g);
		i++
	   :: grq && !c ->
		ungroup_(i, gminc[g * NT + i], gmlife[g * NT + i], g);
		/* P5: reset removes this group's cancel, and only it */
		assert(!gapp[g * NT + i] || lifetime[i] != gmlife[g * NT + i]);
		i++
	   :: else
	   fi;
	   grq = 0
	:: else -> break
	od;
	atomic { i = 0; glock[g] = 0 }
}
#endif

/* ------------------------------------------------------------------ */
/* Target threads                                                     */
/* ------------------------------------------------------------------ */

proctype Target(byte r)
{
	int s, fin, rs, rnext;
	byte res, rq_ret, began, portable, fcreq, lives, nops, i, grq;
#ifdef HAVE_DEADLINES
	byte calldl, dl, t1, nq;
#endif
	do
#ifndef MUT_NO_RETIRE
	:: lives < NLIFE && INC(st[r]) != INC_MAX ->  /* put_free: not retired */
#else
	:: lives < NLIFE ->
#endif
		lives++;
		bind_(r);
#ifdef HAVE_GROUPS
		/* target 0: join A, join B, call, leave A, call
		 * target 1: join A, call */
		join_(r, 0);
		if
		:: r == 0 ->
			join_(r, 1);
			SHIELD_BEGIN(r);
			call_(r);
			SHIELD_END(r);
			leave_(r, 0);
			call_(r)
		:: else ->
			call_(r)
		fi;
#else
		nops = 0;
		do
		:: nops < NOPS && (r == 0 || nops < NOPS1) ->
			nops++;
			if
			:: nops == 1 -> SHIELD_BEGIN(r)
			:: else
			fi;
			call_(r);
			SHIELD_END(r)
		:: else -> break
		od;
		nops = 0;
#endif
		exit_(r)
	:: else -> break
	od;
	tdone[r] = 1
}

/* ------------------------------------------------------------------ */
/* The kernel's signal delivery and the library's handler (signal.c)  */
/* ------------------------------------------------------------------ */

/* Delivers one pending signal of ours when the context it would land in
 * does not block it, and runs the handler, all in one step: the target is
 * stopped while it runs, and nothing another thread can do changes what
 * the handler decides (only the owner clears IN_OP or CANCEL). */
proctype Handler(byte r)
{
	int hs;
	byte ctx;
end_h:
	do
	:: atomic {
		(alive[r] && (sigpend[r] > 0
#ifdef HAVE_TIMER
		              || tpend[r]
#endif
		             ) && !(in_app[r] -> blocked_app[r] : blocked_main[r])) ->
#ifdef HAVE_TIMER
		if
		:: sigpend[r] > 0 -> sigpend[r]--
		:: tpend[r] -> tpend[r] = 0
		fi;
#else
		sigpend[r]--;
#endif
		if
		:: in_app[r] -> ctx = PC_OUT             /* nested in H          */
		:: !in_app[r] && pc[r] == PC_SYS ->      /* no SA_RESTART: EINTR, */
			pc[r] = PC_OUT; intr[r] = I_EINTR;   /* saved PC at cp_end   */
			ctx = PC_OUT
		:: !in_app[r] && pc[r] != PC_SYS -> ctx = pc[r]
		fi;
		hs = st[r];
		printf("T%d: our signal delivered: PC in the window %d, nested in H %d; IN_OP %d CANCEL %d PORTABLE %d\n",
		       r, ctx == PC_WIN, in_app[r], (hs & IN_OP) != 0, (hs & CANCEL) != 0, (hs & PORTABLE) != 0);
		if
#ifdef MUT_STALE_REDIRECT
		:: (hs & IN_OP) && !(hs & CANCEL) && ctx == PC_WIN -> redir[r] = 1
#endif
		:: (hs & (IN_OP | CANCEL)) == (IN_OP | CANCEL) && !(hs & PORTABLE) ->
			if
			:: ctx == PC_WIN ->
#ifndef MUT_NO_REDIRECT
				redir[r] = 1                     /* model: redirect */
#else
				skip
#endif
#ifdef MUT_NO_DEFER
			:: else -> skip
#else
			:: else ->
				/* defer_to_interrupted_context: the mask of the context we
				 * return to, the flag, CLEANUP, and the signal again */
				if
				:: in_app[r] -> blocked_app[r] = 1
				:: else -> blocked_main[r] = 1
				fi;
				deferred[r] = 1;
				printf("T%d: handler defers: masks ours in that context, CLEANUP, sends again\n", r);
#ifndef MUT_NO_CLEANUP_BIT
				st[r] = st[r] | CLEANUP;         /* model: defer */
#endif
				assert(alive[r]);                /* P4: to itself */
				sigpend[r]++
#endif
			fi
		:: else
		fi;
		hs = 0; ctx = 0
	}
	od
}


#ifdef HAVE_TIMER
/* The per-thread resend timer: a signal every 200 us while armed, at most
 * one queued. P4: it only ever signals the thread it was made for, alive. */
proctype Timer(byte r)
{
end_t:
	do
	:: atomic {
		tarmed[r] && !tpend[r] ->
		assert(alive[r] && tlife[r] == lifetime[r]);
		printf("T%d: resend timer fires\n", r);
		tpend[r] = 1
	}
	od
}
#endif

/* ------------------------------------------------------------------ */
/* The timer thread (TimerDriver.swift + deadline.c)                  */
/* ------------------------------------------------------------------ */

#ifdef HAVE_DEADLINES
/* iio_timer_review(r, now), and place() of its result in the wheel (which
 * then always equals scheduled_ns: each review returns NEVER, or the
 * instant it just stored) */
inline review_(r, now)
{
#ifndef MUT_NO_UNSCHEDULE
	scheduled[r] = NEVER;                        /* model: review_unschedule */
#endif
	do
	::
		atomic {                                 /* model: review_state */
			ds = st[r];
			dlife = lifetime[r];
			printf("driver: review_state T%d (now %d): IN_OP %d CANCEL %d\n", r, now, (ds & IN_OP) != 0, (ds & CANCEL) != 0);
			if
			:: !(ds & IN_OP) || (ds & EXITED) ->
#ifdef MUT_NO_UNSCHEDULE
				scheduled[r] = NEVER;            /* (unscheduled only now) */
#endif
				wheel[r] = NEVER;
				ds = 0; dlife = 0; dact = 0; reviewing = 0
			:: else -> dact = 1
			fi
		}
		if
		:: dact == 0 -> break                    /* NEVER */
		:: else
		fi;
		atomic {
			dd = op_deadline[r];                 /* op_deadline load */
			printf("driver: T%d op_deadline %d\n", r, dd);
			if
			:: dd > now && dd != NEVER -> dact = 2           /* schedule */
			:: dd > now && dd == NEVER -> dact = 0           /* NEVER    */
			:: dd <= now && (ds & CANCEL) -> dact = 0        /* interrupted already */
			:: dd <= now && !(ds & CANCEL) -> dact = 3       /* fire     */
			fi;
			if
			:: dact == 0 -> ds = 0; dd = 0; dlife = 0; reviewing = 0;
				wheel[r] = NEVER
			:: else
			fi
		}
		if
		:: dact == 2 ->
			atomic {
				scheduled[r] = dd;               /* model: review_schedule */
				printf("driver: review_schedule T%d at %d\n", r, dd);
				wheel[r] = dd;
				ds = 0; dd = 0; dlife = 0; dact = 0; reviewing = 0
			}
			break
		:: dact == 0 -> break
		:: dact == 3 ->
			/* model: review_fire */
			request_(r, INC(ds), dlife, GEN(ds), R_DEADLINE, 0, 0);
			ds = 0; dd = 0; dlife = 0; dact = 0;
			if
			:: rq_ret != 0 ->                    /* sent, or exited: NEVER */
				atomic { rq_ret = 0; reviewing = 0; wheel[r] = NEVER };
				break
			:: else                              /* that op ended: again */
			fi
		fi
	od
}

/* TimerDriver.run: reviews notified records, then those whose instant
 * came, then sleeps until the next instant. The wheel, `taken` and the
 * fired list are the driver's own: they move with its shared accesses. */
active proctype Driver()
{
	int ds, rs, rnext;
	byte now, dd, dlife, dact, rq_ret, taken, fired, r, until;
end_drv:
	do
	::
		now = clock;
		/* while iio_timer_take_notified() >= 0 */
		do
		:: atomic {
			taken == 0 ->
			taken = stack; stack = 0;            /* exchange(notified_stack) */
			dact = (taken == 0)
		   }
		   if
		   :: dact -> dact = 0; break
		   :: else
		   fi
		:: atomic {
			taken != 0 ->
			r = ((taken & 1) -> 0 : 1);
			taken = taken & ~(1 << r);
			reviewing = r + 1;
			queued[r] = 0                        /* cleared before review */
		   }
		   review_(r, now)
		od;
		atomic {
			now = clock;                         /* wheel.advance(to: now) */
			fired = ((wheel[0] <= now) -> 1 : 0) |
			        ((wheel[1] <= now) -> 2 : 0)
		}
		do
		:: atomic {
			fired != 0 ->
			r = ((fired & 1) -> 0 : 1);
			fired = fired & ~(1 << r);
			reviewing = r + 1
		   }
		   review_(r, now)
		:: atomic {
			fired == 0 ->
			r = 0; now = 0;
			until = MIN(wheel[0], wheel[1]);         /* wheel.nextExpiry */
			woken = 0                                /* seen = wake_word */
		   }
		   break
		od;
		sleeps_until = until;
		if
#ifndef MUT_SLEEP_NO_CHECK
		:: atomic { stack != 0 -> sleeps_until = 0 }
#endif
		:: atomic {
#ifndef MUT_SLEEP_NO_CHECK
			stack == 0 ->
#endif
			printf("driver: sleeps until %d\n", until);
			drv_waiting = 1; drv_until = until
		   }
end_wait:
		   atomic {                              /* FUTEX_WAIT(seen, until) */
			(woken || clock >= until) ->
			printf("driver: wakes (woken %d, clock %d)\n", woken, clock);
			drv_waiting = 0; drv_until = NEVER;
			sleeps_until = 0
		   }
		fi;
		until = 0
	od
}

active proctype Clock()
{
	do
	:: atomic { clock < TMAX -> clock++; printf("clock: %d\n", clock) }
	:: else -> break
	od
}

/* The Dekker pair, as an invariant: a target blocked in a call whose
 * deadline nobody has acted on yet is always either scheduled no later
 * than that deadline, notified (queued), or under review; and the driver
 * never sleeps past it. */
#define BLOCKED_UNASKED(r) (alive[r] && pc[r] == PC_SYS && (st[r] & IN_OP) && \
                            !(st[r] & CANCEL) && op_deadline[r] != NEVER)
#define KNOWN(r) (wheel[r] <= op_deadline[r] || queued[r] || reviewing == (r) + 1)
#define ASLEEP_PAST(r) (drv_waiting && !woken && drv_until > op_deadline[r])
/* a deadline lowered (thread's or source's) below the op's, with no
 * setter left to ask the op to re-check */
#define LOWERED_UNTOLD(r) (MIN(thread_deadline[r], source[r]) < op_deadline[r] && \
                           !setter_busy[r])
#define WHY(r) \
	if \
	:: BLOCKED_UNASKED(r) && !KNOWN(r) -> \
		printf("P1 violated: T%d blocked under deadline %d, but the driver has it filed at %d, not queued, not under review\n", r, op_deadline[r], wheel[r]) \
	:: BLOCKED_UNASKED(r) && ASLEEP_PAST(r) -> \
		printf("P1 violated: T%d blocked under deadline %d while the driver sleeps until %d\n", r, op_deadline[r], drv_until) \
	:: BLOCKED_UNASKED(r) && LOWERED_UNTOLD(r) -> \
		printf("P1 violated: T%d blocked under deadline %d, lowered to %d, and no setter will tell it\n", r, op_deadline[r], MIN(thread_deadline[r], source[r])) \
	:: else \
	fi
active proctype Monitor()
{
end_mon:
	atomic {
		(BLOCKED_UNASKED(0) && (!KNOWN(0) || ASLEEP_PAST(0) || LOWERED_UNTOLD(0))) ||
		(BLOCKED_UNASKED(1) && (!KNOWN(1) || ASLEEP_PAST(1) || LOWERED_UNTOLD(1))) ->
		WHY(0);
		WHY(1);
		assert(false)
	}
}
#endif

/* ------------------------------------------------------------------ */
/* Requesters (three per configuration)                               */
/* ------------------------------------------------------------------ */

#if defined(CFG_WINDOW) || defined(CFG_PORTABLE)
/* iio_cancel(T0), then iio_cancel(T1) */
active proctype Canceller()
{
	int rs, rnext;
	byte rq_ret, hinc, hlife;
	take_handle_(0, hinc, hlife);
	request_(0, hinc, hlife, ANY, R_CANCEL, 0, 0);
	take_handle_(1, hinc, hlife);
	request_(1, hinc, hlife, ANY, R_CANCEL, 0, 0)
}

/* iio_cancel_sticky(T1), later iio_clear_cancel(T1) */
active proctype Sticky()
{
	int rs, rnext;
	byte rq_ret, hinc, hlife;
	take_handle_(1, hinc, hlife);
	request_(1, hinc, hlife, ANY, R_CANCEL, F_STICKY, 0);
	clear_sticky_(1, hinc, hlife)
}

/* iio_deadline_changed(T0): a re-check (the op ends and begins again) */
active proctype Rechecker()
{
	int rs, rnext;
	byte rq_ret, hinc, hlife;
	take_handle_(0, hinc, hlife);
	request_(0, hinc, hlife, ANY, R_RECHECK, 0, 0)
}
#endif

#ifdef CFG_DEADLINE
/* The three requesters here: the driver's review (above), and:
 * iio_deadline_set_for(T0, d), d earlier (passed) or later than T0's own
 * deadline of 1 */
#ifndef DL_SOURCE
active proctype SetFor()
{
	int rs, rnext, s;
	byte rq_ret, hinc, hlife, held, d, odl;
	take_handle_(0, hinc, hlife);
	if
	:: d = 0
	:: d = 2
	fi;
	/* hold_ and the store in one step: under the hold the owner can only
	 * begin an op, and a begin between them is a begin before both */
	atomic {
		hold_(0, hinc, hlife);
		if
		:: held -> thread_deadline[0] = d; setter_busy[0] = 1;
			printf("@%d deadline_set_for T0: thread deadline = %d\n", _pid, d)
		:: else
		fi
	}
	if
	:: held ->
		s = st[0];                               /* load the state      */
		atomic {
			odl = op_deadline[0];                /* load op_deadline    */
			release_(0);
			held = (s & IN_OP) && d < odl;
#ifdef MUT_SETFOR_NO_RECHECK
			held = 0;
#endif
			if
			:: !held -> setter_busy[0] = 0
			:: else
			fi
		}
		if
		:: held ->                               /* model: set_for */
			request_(0, hinc, hlife, GEN(s), R_RECHECK, 0, 0)
		:: else
		fi
	:: else
	fi
}
#endif

/* A deadline source (DeadlineDescriptor.set): store the word (passed, or
 * earlier than T1's call deadline of 2), then iio_deadline_changed(T1) */
#ifdef DL_SOURCE
active proctype SourceSetter()
{
	int rs, rnext;
	byte rq_ret, hinc, hlife;
	take_handle_(1, hinc, hlife);
	if
	:: atomic { source[1] = 0; setter_busy[1] = 1; printf("@%d source word of T1 = 0\n", _pid) }
	:: atomic { source[1] = 1; setter_busy[1] = 1; printf("@%d source word of T1 = 1\n", _pid) }
	fi;
	request_(1, hinc, hlife, ANY, R_RECHECK, 0, 0)
}
#endif
#endif

#ifdef CFG_GROUPS
/* group A (targets 0 and 1): cancel, then reset */
active proctype GroupA()
{
	int rs, rnext;
	byte rq_ret, i, grq;
	set_cancelled_(0, 1);
	set_cancelled_(0, 0)
}

/* group B (target 0): cancel */
active proctype GroupB()
{
	int rs, rnext;
	byte rq_ret, i, grq;
	set_cancelled_(1, 1)
}

/* iio_cancel_sticky(T0), later iio_clear_cancel(T0) */
active proctype Sticky()
{
	int rs, rnext;
	byte rq_ret, hinc, hlife;
	take_handle_(0, hinc, hlife);
	request_(0, hinc, hlife, ANY, R_CANCEL, F_STICKY, 0);
	clear_sticky_(0, hinc, hlife)
}
#endif

#ifdef CFG_REUSE
/* Takes T0's handle at some moment of some lifetime and cancels through
 * it, twice (the second time possibly long after that thread exited) */
active proctype Canceller()
{
	int rs, rnext;
	byte rq_ret, hinc, hlife;
	take_handle_(0, hinc, hlife);
	request_(0, hinc, hlife, ANY, R_CANCEL, 0, 0);
	request_(0, hinc, hlife, ANY, R_CANCEL, 0, 0)
}

/* iio_cancel_sticky(T1) through a handle that may be stale, then clear */
active proctype Sticky()
{
	int rs, rnext;
	byte rq_ret, hinc, hlife;
	take_handle_(1, hinc, hlife);
	request_(1, hinc, hlife, ANY, R_CANCEL, F_STICKY, 0);
	clear_sticky_(1, hinc, hlife)
}

/* iio_deadline_set_for(T0) through a handle that may be stale: the hold
 * (no deadlines run in this configuration: only the hold and release) */
active proctype Holder()
{
	byte hinc, hlife, held;
	take_handle_(0, hinc, hlife);
	hold_(0, hinc, hlife);
	if
	:: held -> release_(0)
	:: else
	fi
}
#endif

init
{
	atomic {
		run Target(0);
		run Target(1);
#ifndef ABSTRACT_DELIVERY
		run Handler(0);
		run Handler(1);
#endif
#ifdef HAVE_TIMER
		run Timer(0);
		run Timer(1);
#endif
	}
}

/* P1 for the portable path, where the resend timer fires forever while
 * armed: under weak fairness, a request in flight ends its operation. */
#if defined(CFG_PORTABLE) && defined(LTL)
ltl p1_portable { [] (((st[0] & CANCEL) != 0) -> <> ((st[0] & CANCEL) == 0)) &&
                  [] (((st[1] & CANCEL) != 0) -> <> ((st[1] & CANCEL) == 0)) }
#endif
