// Echo server for the server benchmark (issue 15): Go's net, one goroutine
// per connection, SetReadDeadline (idle, 10 s) before each read and
// SetWriteDeadline (5 s) before each write. SIGTERM or SIGINT: the listener
// is closed (ending Accept), every connection is closed (ending its Read),
// and the process exits 0 once every connection goroutine has returned.
//
//	echo-server-go [-port P]   (0 picks a free port; prints
//	                            "listening on 127.0.0.1:PORT" first)
//
// Standard library only.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

const (
	idleTimeout  = 10 * time.Second
	writeTimeout = 5 * time.Second
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 picks a free one)")
	flag.Parse()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server-go:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	var (
		mu       sync.Mutex
		conns    = map[net.Conn]struct{}{}
		stopping bool
		wg       sync.WaitGroup
	)
	acceptorDone := make(chan struct{})
	go func() {
		defer close(acceptorDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				return // closed by the shutdown (or fatal)
			}
			mu.Lock()
			if stopping {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				serve(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()

	<-stop
	mu.Lock()
	stopping = true
	mu.Unlock()
	ln.Close()
	<-acceptorDone
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	os.Exit(0)
}

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		n, err := c.Read(buf)
		if err != nil {
			return // io.EOF, the idle deadline, or closed by the shutdown
		}
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}
