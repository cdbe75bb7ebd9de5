package session

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// namedHost returns a Host function whose facts come from a tree that
// names the host name, and nothing else.
func namedHost(t *testing.T, name string) func(net.Addr) *hostinfo.Run {
	t.Helper()
	root := t.TempDir()
	p := filepath.Join(root, "proc", "sys", "kernel")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "hostname"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return func(net.Addr) *hostinfo.Run { return hostinfo.Start(hostinfo.Options{Root: root}) }
}

// TestImpostorListenerGetsNoFacts: a listener without the token, which
// asks for one and answers with a proof it cannot make, receives none of
// the sender's facts, in the hello or after it, on any connection.
func TestImpostorListenerGetsNoFacts(t *testing.T) {
	t.Parallel()
	const secret = "sender-host-secret-name"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		heard []byte // every byte the impostor received
		facts []string
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, p, err := wire.ReadFrame(c, wire.TypeHello)
				if err != nil {
					return
				}
				h, _ := wire.DecodeHello(p)
				ch, _ := wire.EncodeChallenge(wire.Challenge{Nonce: wire.NewNonce(), Auth: wire.AuthHMAC})
				c.Write(ch)
				_, a, _ := wire.ReadFrame(c, wire.TypeAuth)
				rb, _ := wire.EncodeReply(wire.Reply{Proof: strings.Repeat("00", 32)})
				c.Write(rb)
				rest, _ := io.ReadAll(c)
				mu.Lock()
				heard = append(append(append(heard, p...), a...), rest...)
				facts = append(facts, string(h.Facts))
				mu.Unlock()
			}()
		}
	}()
	r := client(t, ClientOptions{Addr: ln.Addr().String(), Bytes: 1 << 20, Token: token, Host: namedHost(t, secret)}).Run(context.Background())
	ln.Close()
	wg.Wait()
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "could not prove it holds the token") {
		t.Fatalf("verdict %s, error %q: want incomplete, the receiver's proof refused", r.Verdict, r.Error)
	}
	if r.Hosts.Local == nil || r.Hosts.Local.Hostname != secret {
		t.Fatalf("the sender's own report lacks its facts: %+v", r.Hosts.Local)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(facts) == 0 {
		t.Fatal("the impostor heard no hello")
	}
	for _, f := range facts {
		if f != "" {
			t.Errorf("a hello carried facts: %s", f)
		}
	}
	if bytes.Contains(heard, []byte(secret)) {
		t.Errorf("the impostor received the sender's facts: %q", heard)
	}
}

// TestTokenRunCarriesBothFacts: with a token, a real run still reports
// both hosts' facts at both ends, the sender's having come after the
// receiver's proof.
func TestTokenRunCarriesBothFacts(t *testing.T) {
	t.Parallel()
	addr, stop := serve(t, ServerOptions{Token: token, Host: namedHost(t, "the-receiver")})
	r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20, Streams: 2, Token: token, Host: namedHost(t, "the-sender")}).Run(context.Background())
	reps := stop()
	if r.Verdict != report.Clean || len(reps) != 1 || reps[0].Verdict != report.Clean {
		t.Fatalf("sender %s %q, %d receiver reports", r.Verdict, r.Error, len(reps))
	}
	for _, c := range []struct {
		end         string
		hosts       report.Hosts
		local, peer string
	}{
		{"sender", r.Hosts, "the-sender", "the-receiver"},
		{"receiver", reps[0].Hosts, "the-receiver", "the-sender"},
	} {
		if c.hosts.Local == nil || c.hosts.Local.Hostname != c.local {
			t.Errorf("%s: local facts %+v, want host %s", c.end, c.hosts.Local, c.local)
		}
		if c.hosts.Peer == nil || c.hosts.Peer.Hostname != c.peer {
			t.Errorf("%s: peer facts %+v, want host %s", c.end, c.hosts.Peer, c.peer)
		}
	}
}

// TestFactsAfterNeedsTheGrant: a receiver that holds the token but does
// not grant FactsAfter (one that predates it) gets no Facts frame after
// its proof: the sender's stream data follows the reply at once, as an
// older receiver expects, and its facts are not sent at all.
func TestFactsAfterNeedsTheGrant(t *testing.T) {
	t.Parallel()
	const secret = "sender-host-secret-name"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type heard struct {
		hello wire.Hello
		rest  []byte
	}
	got := make(chan heard, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, p, err := wire.ReadFrame(c, wire.TypeHello)
		if err != nil {
			return
		}
		h, _ := wire.DecodeHello(p)
		nonce := wire.NewNonce()
		ch, _ := wire.EncodeChallenge(wire.Challenge{Nonce: nonce, Auth: wire.AuthHMAC})
		c.Write(ch)
		wire.ReadFrame(c, wire.TypeAuth)
		rb, _ := wire.EncodeReply(wire.Reply{Proof: wire.Sign(token, wire.Listener, nonce, p)})
		c.Write(rb)
		rest := make([]byte, 64)
		n, _ := io.ReadFull(c, rest)
		got <- heard{h, rest[:n]}
	}()
	client(t, ClientOptions{Addr: ln.Addr().String(), Bytes: 1 << 20, Token: token, Host: namedHost(t, secret),
		IdleTimeout: time.Second, HandshakeTimeout: time.Second}).Run(context.Background())
	ln.Close()
	h := <-got
	if !h.hello.FactsAfter || len(h.hello.Facts) != 0 {
		t.Errorf("hello: facts_after %v, facts %q; want the facts announced, not carried", h.hello.FactsAfter, h.hello.Facts)
	}
	if len(h.rest) != 64 || !bytes.Equal(h.rest, make([]byte, 64)) {
		t.Errorf("after the reply came %q, want the stream's zeros at once", h.rest)
	}
}
