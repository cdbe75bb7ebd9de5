package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/zerocheck/zerocheck/wire"
)

// Fixtures of the authentication tests.
var (
	testToken = []byte("correct horse battery staple") // 28 bytes
	// listenerNonce is a challenge's nonce.
	listenerNonce = "00112233445566778899aabbccddeeff" + "ffeeddccbbaa99887766554433221100"
	// testHello is a hello payload as a dialer sends it.
	testHello = []byte(`{"run_id":"0123456789abcdef","direction":"abort","nonce":"` + strings.Repeat("0f", 32) + `"}`)
)

// isHexMAC reports whether s is a lower-case hex HMAC-SHA256.
func isHexMAC(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && s == strings.ToLower(s)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name  string
		token []byte
		nonce string
		hello []byte
	}{
		{"typical", testToken, listenerNonce, testHello},
		{"shortest token", []byte("0123456789abcdef"), listenerNonce, testHello},
		{"longest token", bytes.Repeat([]byte("k"), wire.MaxToken), listenerNonce, testHello},
		{"binary token", []byte("\x00\x01\x02\xff\xfe\xfd\x00\x00\x80\x7f tok\x00en\x00"), listenerNonce, testHello},
		{"fresh nonce", testToken, wire.NewNonce(), testHello},
		{"upper-case nonce", testToken, strings.ToUpper(listenerNonce), testHello},
		{"empty hello", testToken, listenerNonce, nil},
		{"big hello", testToken, listenerNonce, bytes.Repeat([]byte("x"), wire.MaxHello)},
		{"hello with nul bytes", testToken, listenerNonce, []byte("\x00a\x00b\x00")},
	} {
		for _, role := range []string{wire.Dialer, wire.Listener} {
			t.Run(c.name+"/"+role, func(t *testing.T) {
				mac := wire.Sign(c.token, role, c.nonce, c.hello)
				if !isHexMAC(mac) {
					t.Fatalf("Sign = %q, want 64 lower-case hex digits", mac)
				}
				if again := wire.Sign(c.token, role, c.nonce, c.hello); again != mac {
					t.Fatalf("Sign is not deterministic: %s, then %s", mac, again)
				}
				if !wire.Verify(c.token, role, c.nonce, c.hello, mac) {
					t.Fatal("Verify refuses Sign's own MAC")
				}
				// Hex is hex: an upper-case MAC verifies too.
				if !wire.Verify(c.token, role, c.nonce, c.hello, strings.ToUpper(mac)) {
					t.Fatal("Verify refuses the upper-case MAC")
				}
				// The MAC travels in an Auth frame and a Reply.
				b, err := wire.EncodeAuth(wire.Auth{MAC: mac})
				if err != nil {
					t.Fatal(err)
				}
				a, err := wire.DecodeAuth(payloadOf(t, b, wire.TypeAuth))
				if err != nil || !wire.Verify(c.token, role, c.nonce, c.hello, a.MAC) {
					t.Fatalf("MAC through an Auth frame: %+v %v", a, err)
				}
				b, err = wire.EncodeReply(wire.Reply{Proof: mac})
				if err != nil {
					t.Fatal(err)
				}
				r, err := wire.DecodeReply(payloadOf(t, b, wire.TypeReply))
				if err != nil || !wire.Verify(c.token, role, c.nonce, c.hello, r.Proof) {
					t.Fatalf("MAC through a Reply: %+v %v", r, err)
				}
			})
		}
	}
	if wire.Dialer == wire.Listener {
		t.Fatal("the two roles share a label")
	}
}

func TestVerifyRefuses(t *testing.T) {
	good := wire.Sign(testToken, wire.Dialer, listenerNonce, testHello)
	other := wire.Sign(testToken, wire.Listener, listenerNonce, testHello)
	flipHex := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	for _, c := range []struct {
		name  string
		token []byte
		role  string
		nonce string
		hello []byte
		mac   string
	}{
		{"wrong token", []byte("correct horse battery stapler"), wire.Dialer, listenerNonce, testHello, good},
		{"token one byte short", testToken[:len(testToken)-1], wire.Dialer, listenerNonce, testHello, good},
		{"token with its newline", append(bytes.Clone(testToken), '\n'), wire.Dialer, listenerNonce, testHello, good},
		{"token in upper case", bytes.ToUpper(testToken), wire.Dialer, listenerNonce, testHello, good},
		{"empty token", nil, wire.Dialer, listenerNonce, testHello, good},
		{"listener label", testToken, wire.Listener, listenerNonce, testHello, good},
		{"dialer MAC as the listener's", testToken, wire.Dialer, listenerNonce, testHello, other},
		{"empty label", testToken, "", listenerNonce, testHello, good},
		{"another nonce", testToken, wire.Dialer, wire.NewNonce(), testHello, good},
		{"nonce one digit off", testToken, wire.Dialer, flipHex(listenerNonce, 63), testHello, good},
		// The nonce is signed as sent, not as the bytes it stands for.
		{"nonce in upper case", testToken, wire.Dialer, strings.ToUpper(listenerNonce), testHello, good},
		{"the dialer's nonce", testToken, wire.Dialer, strings.Repeat("0f", 32), testHello, good},
		{"hello with a byte more", testToken, wire.Dialer, listenerNonce, append(bytes.Clone(testHello), ' '), good},
		{"hello one byte short", testToken, wire.Dialer, listenerNonce, testHello[:len(testHello)-1], good},
		{"empty hello", testToken, wire.Dialer, listenerNonce, nil, good},
		{"truncated mac 62", testToken, wire.Dialer, listenerNonce, testHello, good[:62]},
		{"truncated mac 63", testToken, wire.Dialer, listenerNonce, testHello, good[:63]},
		{"truncated mac 32", testToken, wire.Dialer, listenerNonce, testHello, good[:32]},
		{"truncated mac 2", testToken, wire.Dialer, listenerNonce, testHello, good[:2]},
		{"mac with a byte more", testToken, wire.Dialer, listenerNonce, testHello, good + "00"},
		{"mac doubled", testToken, wire.Dialer, listenerNonce, testHello, good + good},
		{"mac one digit off", testToken, wire.Dialer, listenerNonce, testHello, flipHex(good, 0)},
		{"mac last digit off", testToken, wire.Dialer, listenerNonce, testHello, flipHex(good, 63)},
		{"non-hex mac", testToken, wire.Dialer, listenerNonce, testHello, good[:63] + "g"},
		{"mac with a space", testToken, wire.Dialer, listenerNonce, testHello, good[:62] + " " + good[63:]},
		{"mac with 0x", testToken, wire.Dialer, listenerNonce, testHello, "0x" + good[2:]},
		{"mac as base64", testToken, wire.Dialer, listenerNonce, testHello, "lbOHo6l+0Bk8SOboHXTEsJ3LCHLBsP8rlxUzdOKVEFg="},
		{"empty mac", testToken, wire.Dialer, listenerNonce, testHello, ""},
		{"zero mac", testToken, wire.Dialer, listenerNonce, testHello, strings.Repeat("0", 64)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if wire.Verify(c.token, c.role, c.nonce, c.hello, c.mac) {
				t.Fatalf("Verify accepted mac %q", c.mac)
			}
		})
	}
	// A hello differing in any one byte, by any one bit, fails.
	for i := range testHello {
		for bit := range 8 {
			h := bytes.Clone(testHello)
			h[i] ^= 1 << bit
			if wire.Verify(testToken, wire.Dialer, listenerNonce, h, good) {
				t.Fatalf("Verify accepted a hello with byte %d bit %d flipped", i, bit)
			}
		}
	}
	// So does a token differing in one bit.
	for i := range testToken {
		tok := bytes.Clone(testToken)
		tok[i] ^= 0x01
		if wire.Verify(tok, wire.Dialer, listenerNonce, testHello, good) {
			t.Fatalf("Verify accepted a token with byte %d changed", i)
		}
	}
}

// TestSignKnownAnswer pins the MAC construction: a change to the labels,
// the separators, the order of the fields or the hash breaks every
// deployed peer, and this test.
//
// The expected MACs were computed outside Go with Python 3.11's hmac
// module, as HMAC-SHA256(key = token, message = label || 0x00 || nonce ||
// 0x00 || hello payload):
//
//	import hmac, hashlib
//	token = b"correct horse battery staple"
//	nonce = "00112233445566778899aabbccddeeff" "ffeeddccbbaa99887766554433221100"
//	hello = b'{"run_id":"0123456789abcdef","direction":"abort","nonce":"' + b"0f"*32 + b'"}'
//	for role in ["zerocheck/2 dialer", "zerocheck/2 listener"]:
//	    msg = role.encode() + b"\x00" + nonce.encode() + b"\x00" + hello
//	    print(role, hmac.new(token, msg, hashlib.sha256).hexdigest())
func TestSignKnownAnswer(t *testing.T) {
	if wire.Dialer != "zerocheck/2 dialer" || wire.Listener != "zerocheck/2 listener" {
		t.Fatalf("role labels changed: %q %q", wire.Dialer, wire.Listener)
	}
	if want := `{"run_id":"0123456789abcdef","direction":"abort","nonce":"0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"}`; string(testHello) != want {
		t.Fatalf("fixture changed: %s", testHello)
	}
	for _, c := range []struct {
		role, mac string
	}{
		{wire.Dialer, "95b387a3a97ed0193c48e6e81d74c4b09dcb0872c1b0ff2b97153374e2951058"},
		{wire.Listener, "857561ab0af5ff34b9deeac981d4d1f4e38e9dd133371f7110e9bcf7892ce1f5"},
	} {
		if got := wire.Sign(testToken, c.role, listenerNonce, testHello); got != c.mac {
			t.Errorf("Sign(%q) = %s, want %s", c.role, got, c.mac)
		}
		if !wire.Verify(testToken, c.role, listenerNonce, testHello, c.mac) {
			t.Errorf("Verify(%q) refuses the known MAC", c.role)
		}
	}
}

func TestParseToken(t *testing.T) {
	tok16 := "0123456789abcdef"
	for _, c := range []struct {
		name, in, want, err string
	}{
		{"16 bytes", tok16, tok16, ""},
		{"newline", tok16 + "\n", tok16, ""},
		{"crlf", tok16 + "\r\n", tok16, ""},
		{"spaces and newline", " " + tok16 + " \n", tok16, ""},
		{"tabs and blank lines", "\n\t" + tok16 + "\t\n\n", tok16, ""},
		{"inner white space kept", "correct horse battery staple\n", "correct horse battery staple", ""},
		{"base64 of 32 bytes", "DxotPEtaaXiHlqW0w9Lh8AEjRWeJq83v/ty6mHZUMhA=\n", "DxotPEtaaXiHlqW0w9Lh8AEjRWeJq83v/ty6mHZUMhA=", ""},
		{"binary", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\xff\xfe\xfd\xfc\xfb\xfa\xf9", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\xff\xfe\xfd\xfc\xfb\xfa\xf9", ""},
		{"4096 bytes", strings.Repeat("t", 4096), strings.Repeat("t", 4096), ""},
		{"4096 bytes and newline", strings.Repeat("t", 4096) + "\n", strings.Repeat("t", 4096), ""},
		// The bounds count the token without its white space.
		{"15 bytes and white space", " " + tok16[:15] + "\n", "", "token of 15 bytes is too short: want at least 16"},
		{"15 bytes", tok16[:15], "", "token of 15 bytes is too short: want at least 16"},
		{"empty", "", "", "token of 0 bytes is too short: want at least 16"},
		{"only a newline", "\n", "", "token of 0 bytes is too short: want at least 16"},
		{"only white space", strings.Repeat(" \t\r\n", 10), "", "token of 0 bytes is too short: want at least 16"},
		{"4097 bytes", strings.Repeat("t", 4097), "", "token of 4097 bytes is too long: want at most 4096"},
		{"huge", strings.Repeat("t", 1<<20), "", "token of 1048576 bytes is too long: want at most 4096"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			orig := bytes.Clone(in)
			got, err := wire.ParseToken(in)
			if !bytes.Equal(in, orig) {
				t.Fatal("ParseToken changed its input")
			}
			if c.err != "" {
				wantErrContains(t, err, c.err)
				if got != nil {
					t.Fatalf("token %q returned with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("token %q, want %q", got, c.want)
			}
		})
	}
	if wire.MinToken != 16 || wire.MaxToken != 4096 {
		t.Errorf("token bounds %d..%d, want 16..4096", wire.MinToken, wire.MaxToken)
	}
	// The short-token message says how to make a good one.
	_, err := wire.ParseToken([]byte("short"))
	wantErrContains(t, err, "/dev/urandom")
}

func TestNewNonce(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n := wire.NewNonce()
		if b, err := hex.DecodeString(n); err != nil || len(b) != 32 || n != strings.ToLower(n) {
			t.Fatalf("NewNonce = %q, want 64 lower-case hex digits", n)
		}
		if seen[n] {
			t.Fatalf("NewNonce repeated %s", n)
		}
		seen[n] = true
	}
	// Every bit position takes both values: not a constant or a counter
	// in a few bits.
	var or, and [32]byte
	for i := range and {
		and[i] = 0xff
	}
	for n := range seen {
		b, _ := hex.DecodeString(n)
		for i := range b {
			or[i] |= b[i]
			and[i] &= b[i]
		}
	}
	if or != [32]byte(bytes.Repeat([]byte{0xff}, 32)) || and != [32]byte{} {
		t.Fatalf("nonce bits stuck: or % x, and % x", or, and)
	}
	// A fresh nonce is valid in a hello and a challenge.
	h := validForward()
	h.Nonce = wire.NewNonce()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(wire.Challenge{Nonce: wire.NewNonce(), Auth: wire.AuthHMAC})
	if _, err := wire.DecodeChallenge(b); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeChallenge(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, c := range []struct {
		name    string
		payload string
		want    wire.Challenge
		err     string
	}{
		{"none", `{"nonce":"` + listenerNonce + `","auth":"none"}`, wire.Challenge{Nonce: listenerNonce, Auth: wire.AuthNone}, ""},
		{"hmac", `{"nonce":"` + listenerNonce + `","auth":"hmac-sha256"}`, wire.Challenge{Nonce: listenerNonce, Auth: wire.AuthHMAC}, ""},
		{"field order", `{"auth":"none","nonce":"` + listenerNonce + `"}`, wire.Challenge{Nonce: listenerNonce, Auth: wire.AuthNone}, ""},
		{"white space", " \n{ \"nonce\" : \"" + listenerNonce + "\" , \"auth\" : \"none\" }\r\n\t ", wire.Challenge{Nonce: listenerNonce, Auth: wire.AuthNone}, ""},
		{"unknown fields", `{"nonce":"` + listenerNonce + `","auth":"none","future":[1,{"a":null}]}`, wire.Challenge{Nonce: listenerNonce, Auth: wire.AuthNone}, ""},
		{"upper-case nonce", `{"nonce":"` + strings.ToUpper(listenerNonce) + `","auth":"none"}`, wire.Challenge{Nonce: strings.ToUpper(listenerNonce), Auth: wire.AuthNone}, ""},

		{"missing nonce", `{"auth":"none"}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"empty nonce", `{"nonce":"","auth":"none"}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"short nonce", `{"nonce":"` + listenerNonce[:62] + `","auth":"none"}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"odd nonce", `{"nonce":"` + listenerNonce[:63] + `","auth":"none"}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"long nonce", `{"nonce":"` + listenerNonce + `00","auth":"none"}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"non-hex nonce", `{"nonce":"` + listenerNonce[:63] + `z","auth":"none"}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"nonce with spaces", `{"nonce":" ` + listenerNonce[1:] + `","auth":"none"}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"null", `null`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"empty object", `{}`, wire.Challenge{}, "challenge: nonce is not 64 hex digits"},
		{"missing auth", `{"nonce":"` + listenerNonce + `"}`, wire.Challenge{}, `challenge: unknown authentication ""`},
		{"unknown auth", `{"nonce":"` + listenerNonce + `","auth":"hmac-sha1"}`, wire.Challenge{}, `challenge: unknown authentication "hmac-sha1"`},
		{"auth case", `{"nonce":"` + listenerNonce + `","auth":"HMAC-SHA256"}`, wire.Challenge{}, `challenge: unknown authentication "HMAC-SHA256"`},
		{"auth None", `{"nonce":"` + listenerNonce + `","auth":"None"}`, wire.Challenge{}, `challenge: unknown authentication "None"`},
		{"auth with space", `{"nonce":"` + listenerNonce + `","auth":"none "}`, wire.Challenge{}, `challenge: unknown authentication "none "`},
		{"long auth", `{"nonce":"` + listenerNonce + `","auth":"` + long + `"}`, wire.Challenge{}, `challenge: unknown authentication "` + long[:64] + `..."`},
		{"auth number", `{"nonce":"` + listenerNonce + `","auth":1}`, wire.Challenge{}, "challenge: json: cannot unmarshal number"},
		{"nonce number", `{"nonce":1,"auth":"none"}`, wire.Challenge{}, "challenge: json: cannot unmarshal number"},
		{"trailing text", `{"nonce":"` + listenerNonce + `","auth":"none"} x`, wire.Challenge{}, "challenge: trailing data after the message"},
		{"trailing object", `{"nonce":"` + listenerNonce + `","auth":"none"}{}`, wire.Challenge{}, "challenge: trailing data after the message"},
		{"trailing brace", `{"nonce":"` + listenerNonce + `","auth":"none"}}`, wire.Challenge{}, "challenge: trailing data after the message"},
		{"trailing nul", `{"nonce":"` + listenerNonce + `","auth":"none"}` + "\x00", wire.Challenge{}, "challenge: trailing data after the message"},
		{"empty", ``, wire.Challenge{}, "challenge: EOF"},
		{"cut", `{"nonce":"` + listenerNonce, wire.Challenge{}, "challenge: unexpected EOF"},
		{"array", `[]`, wire.Challenge{}, "challenge: json: cannot unmarshal array"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := wire.DecodeChallenge([]byte(c.payload))
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestDecodeAuth(t *testing.T) {
	mac := wire.Sign(testToken, wire.Dialer, listenerNonce, testHello)
	const bad = "auth: mac is not a hex HMAC-SHA256"
	for _, c := range []struct {
		name    string
		payload string
		want    wire.Auth
		err     string
	}{
		{"mac", `{"mac":"` + mac + `"}`, wire.Auth{MAC: mac}, ""},
		{"upper-case mac", `{"mac":"` + strings.ToUpper(mac) + `"}`, wire.Auth{MAC: strings.ToUpper(mac)}, ""},
		{"no token", `{}`, wire.Auth{}, ""},
		{"empty mac", `{"mac":""}`, wire.Auth{}, ""},
		{"null mac", `{"mac":null}`, wire.Auth{}, ""},
		{"null", `null`, wire.Auth{}, ""},
		{"white space", "\n { \"mac\" : \"" + mac + "\" } \n", wire.Auth{MAC: mac}, ""},
		{"unknown fields", `{"mac":"` + mac + `","future":{"x":[1]}}`, wire.Auth{MAC: mac}, ""},

		{"mac 62", `{"mac":"` + mac[:62] + `"}`, wire.Auth{}, bad},
		{"mac 63", `{"mac":"` + mac[:63] + `"}`, wire.Auth{}, bad},
		{"mac 2", `{"mac":"` + mac[:2] + `"}`, wire.Auth{}, bad},
		{"mac 66", `{"mac":"` + mac + `00"}`, wire.Auth{}, bad},
		{"mac 128", `{"mac":"` + mac + mac + `"}`, wire.Auth{}, bad},
		{"sha1 length", `{"mac":"` + mac[:40] + `"}`, wire.Auth{}, bad},
		{"non-hex mac", `{"mac":"` + mac[:63] + `g"}`, wire.Auth{}, bad},
		{"mac with space", `{"mac":" ` + mac[1:] + `"}`, wire.Auth{}, bad},
		{"base64 mac", `{"mac":"lbOHo6l+0Bk8SOboHXTEsJ3LCHLBsP8rlxUzdOKVEFg="}`, wire.Auth{}, bad},
		{"mac number", `{"mac":1}`, wire.Auth{}, "auth: json: cannot unmarshal number"},
		{"trailing text", `{"mac":"` + mac + `"} x`, wire.Auth{}, "auth: trailing data after the message"},
		{"trailing object", `{"mac":"` + mac + `"}{"mac":""}`, wire.Auth{}, "auth: trailing data after the message"},
		{"trailing bracket", `{}]`, wire.Auth{}, "auth: trailing data after the message"},
		{"empty", ``, wire.Auth{}, "auth: EOF"},
		{"cut", `{"mac":"`, wire.Auth{}, "auth: unexpected EOF"},
		{"string", `"` + mac + `"`, wire.Auth{}, "auth: json: cannot unmarshal string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := wire.DecodeAuth([]byte(c.payload))
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestChallengeAuthRoundTrip(t *testing.T) {
	for _, c := range []struct {
		ch   wire.Challenge
		json string
	}{
		{wire.Challenge{Nonce: listenerNonce, Auth: wire.AuthNone}, `{"nonce":"` + listenerNonce + `","auth":"none"}`},
		{wire.Challenge{Nonce: strings.ToUpper(listenerNonce), Auth: wire.AuthHMAC}, `{"nonce":"` + strings.ToUpper(listenerNonce) + `","auth":"hmac-sha256"}`},
	} {
		b, err := wire.EncodeChallenge(c.ch)
		if err != nil {
			t.Fatal(err)
		}
		if b[5] != byte(wire.TypeChallenge) {
			t.Fatalf("challenge in a %v frame", wire.Type(b[5]))
		}
		p := payloadOf(t, b, wire.TypeChallenge)
		if string(p) != c.json {
			t.Fatalf("challenge payload %s, want %s", p, c.json)
		}
		got, err := wire.DecodeChallenge(p)
		if err != nil || got != c.ch {
			t.Fatalf("round trip: %+v %v, want %+v", got, err, c.ch)
		}
	}
	mac := wire.Sign(testToken, wire.Dialer, listenerNonce, testHello)
	for _, c := range []struct {
		a    wire.Auth
		json string
	}{
		{wire.Auth{MAC: mac}, `{"mac":"` + mac + `"}`},
		{wire.Auth{}, `{}`}, // a dialer without a token
	} {
		b, err := wire.EncodeAuth(c.a)
		if err != nil {
			t.Fatal(err)
		}
		if b[5] != byte(wire.TypeAuth) {
			t.Fatalf("auth in a %v frame", wire.Type(b[5]))
		}
		p := payloadOf(t, b, wire.TypeAuth)
		if string(p) != c.json {
			t.Fatalf("auth payload %s, want %s", p, c.json)
		}
		got, err := wire.DecodeAuth(p)
		if err != nil || got != c.a {
			t.Fatalf("round trip: %+v %v, want %+v", got, err, c.a)
		}
	}
	// The frames fit their 1 KiB bounds with room to spare.
	if b, _ := wire.EncodeChallenge(wire.Challenge{Nonce: listenerNonce, Auth: wire.AuthHMAC}); len(b) > wire.HeaderSize+wire.MaxChallenge/4 {
		t.Errorf("challenge frame of %d bytes", len(b))
	}
	if b, _ := wire.EncodeAuth(wire.Auth{MAC: mac}); len(b) > wire.HeaderSize+wire.MaxAuth/4 {
		t.Errorf("auth frame of %d bytes", len(b))
	}
	// Encoding does not check: what cannot fit is refused, though.
	if _, err := wire.EncodeAuth(wire.Auth{MAC: strings.Repeat("0", wire.MaxAuth)}); err == nil {
		t.Error("EncodeAuth of an oversized mac succeeded")
	}
}

func TestPayload(t *testing.T) {
	for _, p := range [][]byte{[]byte(`{"mac":""}`), []byte("x"), bytes.Repeat([]byte{0xab}, wire.MaxChallenge)} {
		b := mustAppend(t, wire.TypeChallenge, p)
		if got := wire.Payload(b); !bytes.Equal(got, p) {
			t.Errorf("Payload = %q, want %q", got, p)
		}
	}
	// Payload of a real hello frame is what the peer reads, and what both
	// ends sign.
	hello, err := wire.EncodeHello(validForward())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := wire.Payload(hello), payloadOf(t, hello, wire.TypeHello); !bytes.Equal(got, want) {
		t.Fatalf("Payload %s, ReadFrame %s", got, want)
	}
	// An empty payload is empty, not nil.
	if got := wire.Payload(mustAppend(t, wire.TypeAuth, nil)); got == nil || len(got) != 0 {
		t.Errorf("Payload of an empty frame = %#v", got)
	}
	// Anything shorter than a header and a trailer has none.
	frame := mustAppend(t, wire.TypeAuth, []byte("{}"))
	for n := range wire.HeaderSize + wire.TrailerSize {
		if got := wire.Payload(frame[:n]); got != nil {
			t.Errorf("Payload of %d bytes = %q, want nil", n, got)
		}
	}
	if got := wire.Payload(nil); got != nil {
		t.Errorf("Payload(nil) = %q", got)
	}
}

// TestHandshake plays both ends of the four-message handshake on the
// frames, as package session does.
func TestHandshake(t *testing.T) {
	for _, c := range []struct {
		name                    string
		dialerTok, listenerTok  []byte
		dialerOK, listenerProof bool
	}{
		{"same token", testToken, testToken, true, true},
		{"other token", testToken, []byte("another token of enough bytes"), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// dialer -> listener: Hello
			helloFrame, err := wire.EncodeHello(validForward())
			if err != nil {
				t.Fatal(err)
			}
			var conn bytes.Buffer
			conn.Write(helloFrame)
			_, got, err := wire.ReadFrame(&conn, wire.TypeHello)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wire.DecodeHello(got); err != nil {
				t.Fatal(err)
			}
			// listener -> dialer: Challenge
			ln := wire.NewNonce()
			b, err := wire.EncodeChallenge(wire.Challenge{Nonce: ln, Auth: wire.AuthHMAC})
			if err != nil {
				t.Fatal(err)
			}
			conn.Write(b)
			_, p, err := wire.ReadFrame(&conn, wire.TypeChallenge)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := wire.DecodeChallenge(p)
			if err != nil || ch.Auth != wire.AuthHMAC || ch.Nonce != ln {
				t.Fatalf("challenge %+v %v", ch, err)
			}
			// dialer -> listener: Auth
			b, err = wire.EncodeAuth(wire.Auth{MAC: wire.Sign(c.dialerTok, wire.Dialer, ch.Nonce, wire.Payload(helloFrame))})
			if err != nil {
				t.Fatal(err)
			}
			conn.Write(b)
			_, p, err = wire.ReadFrame(&conn, wire.TypeAuth)
			if err != nil {
				t.Fatal(err)
			}
			a, err := wire.DecodeAuth(p)
			if err != nil {
				t.Fatal(err)
			}
			if ok := wire.Verify(c.listenerTok, wire.Dialer, ln, got, a.MAC); ok != c.dialerOK {
				t.Fatalf("listener verifies the dialer: %v, want %v", ok, c.dialerOK)
			}
			// listener -> dialer: Reply with the proof
			b, err = wire.EncodeReply(wire.Reply{Proof: wire.Sign(c.listenerTok, wire.Listener, ln, got)})
			if err != nil {
				t.Fatal(err)
			}
			conn.Write(b)
			_, p, err = wire.ReadFrame(&conn, wire.TypeReply)
			if err != nil {
				t.Fatal(err)
			}
			r, err := wire.DecodeReply(p)
			if err != nil {
				t.Fatal(err)
			}
			if ok := wire.Verify(c.dialerTok, wire.Listener, ch.Nonce, wire.Payload(helloFrame), r.Proof); ok != c.listenerProof {
				t.Fatalf("dialer verifies the listener: %v, want %v", ok, c.listenerProof)
			}
			// Neither MAC answers for the other side.
			if wire.Verify(c.dialerTok, wire.Listener, ch.Nonce, wire.Payload(helloFrame), a.MAC) {
				t.Fatal("the dialer's own MAC passes as the listener's proof")
			}
			if conn.Len() != 0 {
				t.Fatalf("%d bytes left over", conn.Len())
			}
		})
	}
}

// TestAuthTypesAreStrict checks that the new types carry no field beyond
// the protocol's: their JSON names are the wire format.
func TestAuthTypesAreStrict(t *testing.T) {
	for _, c := range []struct {
		v    any
		keys []string
	}{
		{wire.Challenge{}, []string{"nonce", "auth"}},
		{wire.Auth{MAC: "x"}, []string{"mac"}},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, k := range c.keys {
			if _, ok := m[k]; ok {
				keys = append(keys, k)
			}
		}
		if len(m) != len(c.keys) || !reflect.DeepEqual(keys, c.keys) {
			t.Errorf("%T as JSON: %s, want keys %v", c.v, b, c.keys)
		}
	}
}
