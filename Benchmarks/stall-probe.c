#include <stdio.h>
#include <time.h>
#include <stdint.h>
#include <sys/prctl.h>
static uint64_t now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000ull+t.tv_nsec;}
int main(void){ prctl(PR_SET_TIMERSLACK,1UL,0,0,0); for(int run=0;run<5;run++){ uint64_t start=now()+1000000, worst=0; int over=0; for(int i=0;i<1000;i++){ uint64_t d=start+i*1000000ull; struct timespec ts={d/1000000000,d%1000000000}; clock_nanosleep(CLOCK_MONOTONIC,TIMER_ABSTIME,&ts,NULL); uint64_t late=now()-d; if(late>worst)worst=late; if(late>500000)over++;} printf("run %d: worst %.1f us, %d over 500us\n",run,worst/1e3,over);} }
