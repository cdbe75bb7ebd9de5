package xfrm

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Words iproute2 prints for values, mapped to the spelling ParseDump uses
// so that both sources describe the same SA identically.
var (
	ipProtoWords = map[string]string{
		"esp": "esp", "ah": "ah", "comp": "comp",
		"route2": "43", "hao": "60", "ipsec-any": "255",
	}
	ipModeWords = map[string]string{
		"transport": "transport", "tunnel": "tunnel", "ro": "ro",
		"in_trigger": "in_trigger", "beet": "beet", "iptfs": "5",
	}
	ipEncapWords = map[string]string{
		"espinudp-nonike": "espinudp-nonike", "espinudp": "espinudp", "espintcp": "espintcp",
	}
	// iproute2's keywords for algorithm lines; the name follows the keyword.
	ipAlgWords = map[string]bool{"aead": true, "enc": true, "auth": true, "auth-trunc": true, "comp": true}
)

// ParseIPState parses the text printed by `ip xfrm state`, `ip -s xfrm
// state` and `ip -d xfrm state`: blocks that open with an unindented
// "src A dst B" line followed by indented detail lines. Only the SA's
// identity, mode, encapsulation and algorithm names are taken; unknown lines
// are ignored, and key material is never copied. A block without its
// "proto ... spi ... mode ..." line, a malformed value, or more than 4096
// SAs gives an error.
func ParseIPState(b []byte) ([]SA, error) {
	if len(b) > maxDumpBytes {
		return nil, fmt.Errorf("xfrm: ip xfrm state text of %d bytes exceeds the %d-byte limit", len(b), maxDumpBytes)
	}
	var (
		sas     []SA
		cur     *ipBlock
		lineNum int
	)
	finish := func() error {
		if cur == nil {
			return nil
		}
		if err := cur.complete(); err != nil {
			return fmt.Errorf("xfrm: ip xfrm state block at line %d: %w", cur.line, err)
		}
		if len(sas) >= maxSAs {
			return fmt.Errorf("xfrm: more than %d SAs in ip xfrm state text", maxSAs)
		}
		sas = append(sas, cur.sa)
		cur = nil
		return nil
	}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		lineNum++
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		if !indented && f[0] == "src" {
			if err := finish(); err != nil {
				return nil, err
			}
			blk, err := newIPBlock(f, lineNum)
			if err != nil {
				return nil, err
			}
			cur = blk
			continue
		}
		if cur == nil || !indented {
			// Text outside an SA block (warnings, other output) is not ours.
			continue
		}
		if err := cur.detail(f); err != nil {
			return nil, fmt.Errorf("xfrm: ip xfrm state line %d: %w", lineNum, err)
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return sas, nil
}

type ipBlock struct {
	sa       SA
	line     int
	haveID   bool
	haveMode bool
}

func newIPBlock(f []string, line int) (*ipBlock, error) {
	if len(f) < 4 || f[2] != "dst" {
		return nil, fmt.Errorf("xfrm: ip xfrm state line %d: want \"src ADDR dst ADDR\"", line)
	}
	src, err := ipAddrWord(f[1])
	if err != nil {
		return nil, fmt.Errorf("xfrm: ip xfrm state line %d: src: %w", line, err)
	}
	dst, err := ipAddrWord(f[3])
	if err != nil {
		return nil, fmt.Errorf("xfrm: ip xfrm state line %d: dst: %w", line, err)
	}
	// The kernel keeps one address family per SA, so mixed families mean
	// the text did not come from iproute2.
	if src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("xfrm: ip xfrm state line %d: src and dst in different address families", line)
	}
	return &ipBlock{sa: SA{Src: src.String(), Dst: dst.String()}, line: line}, nil
}

func ipAddrWord(w string) (netip.Addr, error) {
	a, err := netip.ParseAddr(w)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("malformed address %q", truncWord(w))
	}
	return a, nil
}

func (blk *ipBlock) complete() error {
	if !blk.haveID || !blk.haveMode {
		return errors.New("no \"proto ... spi ... mode ...\" line (truncated output?)")
	}
	return nil
}

// detail reads one indented line of a block. Lines are recognised by their
// first word; iproute2 adds new kinds of lines over time and they must not
// break parsing, so anything unrecognised is skipped.
func (blk *ipBlock) detail(f []string) error {
	switch {
	case f[0] == "proto":
		return blk.idLine(f)
	case ipAlgWords[f[0]]:
		if len(f) < 2 {
			return fmt.Errorf("%s line without an algorithm name", f[0])
		}
		if !validAlgName(f[1]) {
			return fmt.Errorf("malformed algorithm name %q", truncWord(f[1]))
		}
		if len(blk.sa.Algs) >= maxAlgsPerSA {
			return fmt.Errorf("more than %d algorithms in one SA", maxAlgsPerSA)
		}
		// f[2], when present, is the key: it is deliberately not looked at.
		blk.sa.Algs = append(blk.sa.Algs, f[1])
	case f[0] == "encap":
		for i := 1; i+1 < len(f); i++ {
			if f[i] == "type" {
				e, err := wordOrNumber(f[i+1], ipEncapWords, 0xffff, func(n uint64) string { return encapName(uint16(n)) })
				if err != nil {
					return fmt.Errorf("encap type: %w", err)
				}
				blk.sa.Encap = e
				return nil
			}
		}
		return errors.New("encap line without a type")
	}
	return nil
}

// idLine reads "proto esp spi 0x00000100 reqid 0 mode transport"; with -s
// iproute2 adds the decimal value in parentheses, as "spi 0x00000100(256)".
func (blk *ipBlock) idLine(f []string) error {
	if blk.haveID {
		return errors.New("second proto line in one SA block")
	}
	var haveProto, haveSPI bool
	for i := 0; i+1 < len(f); i += 2 {
		key, val := f[i], f[i+1]
		switch key {
		case "proto":
			p, err := wordOrNumber(val, ipProtoWords, 0xff, func(n uint64) string { return protoName(uint8(n)) })
			if err != nil {
				return fmt.Errorf("proto: %w", err)
			}
			blk.sa.Proto, haveProto = p, true
		case "spi":
			s, err := spiWord(val)
			if err != nil {
				return err
			}
			blk.sa.SPI, haveSPI = s, true
		case "mode":
			m, err := wordOrNumber(val, ipModeWords, 0xff, func(n uint64) string { return modeName(uint8(n)) })
			if err != nil {
				return fmt.Errorf("mode: %w", err)
			}
			blk.sa.Mode, blk.haveMode = m, true
		}
	}
	if !haveProto || !haveSPI {
		return errors.New("proto line without proto and spi")
	}
	blk.haveID = true
	return nil
}

func spiWord(w string) (string, error) {
	h := w
	if i := strings.IndexByte(h, '('); i >= 0 {
		h = h[:i]
	}
	if !strings.HasPrefix(h, "0x") && !strings.HasPrefix(h, "0X") {
		return "", fmt.Errorf("malformed spi %q", truncWord(w))
	}
	v, err := strconv.ParseUint(h[2:], 16, 32)
	if err != nil {
		return "", fmt.Errorf("malformed spi %q", truncWord(w))
	}
	return spiText(uint32(v)), nil
}

// wordOrNumber maps a value iproute2 printed either as a known word or, for
// values it has no word for, as a decimal number, onto ParseDump's spelling.
func wordOrNumber(w string, words map[string]string, max uint64, name func(uint64) string) (string, error) {
	if s, ok := words[w]; ok {
		return s, nil
	}
	n, err := strconv.ParseUint(w, 10, 64)
	if err != nil || n > max {
		return "", fmt.Errorf("unknown value %q", truncWord(w))
	}
	return name(n), nil
}

// truncWord keeps error messages short when the input is hostile.
func truncWord(w string) string {
	if len(w) > 64 {
		return w[:64] + "..."
	}
	return w
}
