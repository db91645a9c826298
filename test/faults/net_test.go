package faults

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

// network is the set of TCP proxies every inter-node connection passes
// through, and the partitions currently in force between nodes.
//
// Each node has two proxies: one in front of its Kafka listener (its
// advertised address, so clients and the followers fetching from it come
// through it) and one in front of its controller listener (its address in
// --controllers, so raft and controller requests come through it). A proxy
// serves every dialer, so to cut only node-to-node traffic it needs to
// know who dialed: on accept it finds the dialing socket in
// /proc/net/tcp by its address pair and the process holding that socket
// among the node processes (/proc/PID/fd). Connections from anything else
// (the test's own clients) are never cut. This needs no change to the
// server and cuts exactly the links named, in both directions; it is Linux
// only.
//
// A cut link behaves like a black hole, not a reset: open connections
// across it stop carrying bytes (what either side sends is read and
// dropped) and new ones are accepted and then hear nothing; all of them are
// closed when the link heals, as the peers' TCP stacks would time them out.
type network struct {
	t     testing.TB
	nodes func() map[int]int32 // running pid -> node id

	mu    sync.Mutex
	cut   map[[2]int32]bool // both orders of every cut pair
	conns map[*proxyConn]struct{}
	lns   []net.Listener
}

// proxyConn is one proxied connection from node src (0: not a node) to
// node dst.
type proxyConn struct {
	src, dst        int32
	client, backend net.Conn // backend nil while black-holed from the start

	mu     sync.Mutex
	frozen bool
}

func newNetwork(t testing.TB, nodes func() map[int]int32) *network {
	nw := &network{t: t, nodes: nodes, cut: map[[2]int32]bool{}, conns: map[*proxyConn]struct{}{}}
	t.Cleanup(nw.close)
	return nw
}

// listen starts a proxy on addr that forwards to backend, the listener of
// node dst.
func (nw *network) listen(addr, backend string, dst int32) {
	nw.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		nw.t.Fatalf("proxy for node %d: %v", dst, err)
	}
	nw.mu.Lock()
	nw.lns = append(nw.lns, ln)
	nw.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go nw.serve(c, backend, dst)
		}
	}()
}

func (nw *network) serve(c net.Conn, backend string, dst int32) {
	pc := &proxyConn{src: nw.dialer(c), dst: dst, client: c}
	nw.mu.Lock()
	pc.frozen = nw.cut[[2]int32{pc.src, pc.dst}]
	nw.conns[pc] = struct{}{}
	nw.mu.Unlock()
	if pc.frozen {
		io.Copy(io.Discard, c) // until the heal closes it
		return
	}
	b, err := net.Dial("tcp", backend)
	if err != nil {
		nw.drop(pc)
		return
	}
	pc.mu.Lock()
	pc.backend = b
	frozen := pc.frozen
	pc.mu.Unlock()
	if frozen { // cut while dialing
		b.Close()
		io.Copy(io.Discard, c)
		return
	}
	go pc.pipe(b, c)
	pc.pipe(c, b)
	nw.drop(pc)
}

// pipe copies from one side to the other until either fails, dropping
// what arrives while the connection is frozen.
func (pc *proxyConn) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			pc.mu.Lock()
			frozen := pc.frozen
			pc.mu.Unlock()
			if !frozen {
				if _, werr := to.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
		}
		if err != nil {
			pc.close()
			return
		}
	}
}

func (pc *proxyConn) close() {
	pc.client.Close()
	pc.mu.Lock()
	if pc.backend != nil {
		pc.backend.Close()
	}
	pc.mu.Unlock()
}

func (nw *network) drop(pc *proxyConn) {
	pc.close()
	nw.mu.Lock()
	delete(nw.conns, pc)
	nw.mu.Unlock()
}

// partition cuts the links between every node of a and every node of b.
func (nw *network) partition(a, b []int32) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			nw.cut[[2]int32{x, y}], nw.cut[[2]int32{y, x}] = true, true
		}
	}
	for pc := range nw.conns {
		if nw.cut[[2]int32{pc.src, pc.dst}] {
			pc.mu.Lock()
			pc.frozen = true
			pc.mu.Unlock()
		}
	}
}

// heal restores every link and closes the connections that were cut.
func (nw *network) heal() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut = map[[2]int32]bool{}
	for pc := range nw.conns {
		pc.mu.Lock()
		frozen := pc.frozen
		pc.mu.Unlock()
		if frozen {
			pc.close()
			delete(nw.conns, pc)
		}
	}
}

func (nw *network) close() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, ln := range nw.lns {
		ln.Close()
	}
	for pc := range nw.conns {
		pc.close()
	}
}

// dialer returns the id of the node whose process opened c, or 0 when it
// is not a node (or is gone already).
func (nw *network) dialer(c net.Conn) int32 {
	remote, local := c.RemoteAddr().(*net.TCPAddr), c.LocalAddr().(*net.TCPAddr)
	inode := socketInode(remote, local)
	if inode == "" {
		return 0
	}
	want := "socket:[" + inode + "]"
	for pid, id := range nw.nodes() {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && l == want {
				return id
			}
		}
	}
	return 0
}

// socketInode finds the inode of the socket whose local address is local
// and remote address remote in /proc/net/tcp (IPv4 loopback only).
func socketInode(local, remote *net.TCPAddr) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	l, r := procAddr(local), procAddr(remote)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) > 9 && fs[1] == l && fs[2] == r {
			return fs[9]
		}
	}
	return ""
}

// procAddr formats an IPv4 address as /proc/net/tcp does: the address as a
// little-endian 32-bit hex number, then the port in hex.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}
