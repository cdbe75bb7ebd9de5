package relay

import (
	"fmt"
	"github.com/zerocheck/zerocheck/internal/units"
	"slices"
	"strconv"
	"strings"
)

// Kind is what an injection does to the bytes it covers.
type Kind string

// The kinds of injection.
const (
	// Bitflip XORs one byte with 1<<Bit: one corrupt byte, one flipped bit.
	Bitflip Kind = "bitflip"
	// Random XORs each of Len bytes with a pseudo-random non-zero byte, so
	// every one of them is corrupt whatever the pattern.
	Random Kind = "random"
	// Block replaces Len/16 consecutive 16-byte blocks with one
	// pseudo-random 16-byte block (no byte 0x00 or 0xff), repeated: the
	// signature of the AES-NI incident.
	Block Kind = "block"
	// Zero sets Len bytes to 0x00.
	Zero Kind = "zero"
	// Displace replaces Len bytes with the stream's own bytes Back bytes
	// earlier (as they came from the sender).
	Displace Kind = "displace"
)

// Bounds and defaults of an injection spec.
const (
	// MaxItems bounds the items of one spec.
	MaxItems = 1000
	// MaxLen bounds an injection's length and a displacement's distance:
	// the relay keeps this much history of each data stream.
	MaxLen = 1 << 20
	// MaxOffset bounds OFFSET and EVERY (1 EiB), keeping all offset
	// arithmetic far from overflow.
	MaxOffset = 1 << 60

	DefaultLen     = 16   // random, zero
	DefaultDispLen = 64   // displace
	DefaultBack    = 4096 // displace
	BlockSize      = 16
)

// Injection is one item of an injection spec. An injection applies at a
// data-stream offset, independently in each relayed data stream.
type Injection struct {
	Kind Kind
	// Off is the data-stream offset of the first byte (KIND@OFFSET form).
	// Unused (0) when Every is set.
	Off int64
	// Every, when > 0, places one injection in every interval
	// [k*Every, (k+1)*Every), at a seeded pseudo-random position such
	// that the whole injection lies inside the interval (KIND%EVERY form).
	Every int64
	// Len is the number of bytes covered: 1 for Bitflip, a multiple of
	// 16 for Block.
	Len int64
	// Bit is the bit Bitflip flips, 0 to 7; 0 for other kinds.
	Bit int
	// Back is how far back Displace takes its bytes from, 1 to MaxLen; 0
	// for other kinds.
	Back int64
}

var kinds = []Kind{Bitflip, Random, Block, Zero, Displace}

// String returns the canonical text of the item, which ParseSpec accepts
// and turns back into an equal Injection. Arguments equal to their
// defaults are left out; sizes use the largest binary unit that divides
// them exactly (4096 reads 4KiB).
func (i Injection) String() string {
	var b strings.Builder
	b.WriteString(string(i.Kind))
	if i.Every > 0 {
		b.WriteString("%" + formatSize(i.Every))
	} else {
		b.WriteString("@" + formatSize(i.Off))
	}
	switch i.Kind {
	case Bitflip:
		if i.Bit != 0 {
			b.WriteString(":" + strconv.Itoa(i.Bit))
		}
	case Random, Zero:
		if i.Len != DefaultLen {
			b.WriteString(":" + formatSize(i.Len))
		}
	case Block:
		if i.Len != BlockSize {
			b.WriteString(":" + strconv.FormatInt(i.Len/BlockSize, 10))
		}
	case Displace:
		switch {
		case i.Back != DefaultBack:
			b.WriteString(":" + formatSize(i.Len) + ":" + formatSize(i.Back))
		case i.Len != DefaultDispLen:
			b.WriteString(":" + formatSize(i.Len))
		}
	}
	return b.String()
}

// FormatSpec returns the canonical spec of items: their String texts
// joined by commas.
func FormatSpec(items []Injection) string {
	s := make([]string, len(items))
	for k, it := range items {
		s[k] = it.String()
	}
	return strings.Join(s, ",")
}

// ParseSpec parses an injection spec:
//
//	SPEC := ITEM[,ITEM...]
//	ITEM := KIND@OFFSET[:ARG[:ARG2]]   one injection at data-stream offset OFFSET
//	      | KIND%EVERY[:ARG[:ARG2]]    one injection in every EVERY bytes
//
//	bitflip@OFF[:BIT]            XOR byte OFF with 1<<BIT (default 0)
//	random@OFF[:LEN]             LEN bytes (default 16) XORed with random non-zero bytes
//	block@OFF[:N]                N 16-byte blocks (default 1) replaced by one random block
//	zero@OFF[:LEN]               LEN bytes (default 16) set to 0x00
//	displace@OFF[:LEN[:BACK]]    LEN bytes (default 64) replaced by those BACK (default 4096) earlier
//
// Sizes take units as --bytes does (4096, 64KiB, 1GiB, 10MB). An empty
// spec is no injections.
func ParseSpec(spec string) ([]Injection, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	texts := strings.Split(spec, ",")
	if len(texts) > MaxItems {
		return nil, fmt.Errorf("inject spec has %d items, at most %d are allowed", len(texts), MaxItems)
	}
	items := make([]Injection, len(texts))
	for k, t := range texts {
		t = strings.TrimSpace(t)
		texts[k] = t
		it, err := parseItem(t)
		if err != nil {
			return nil, fmt.Errorf("inject item %q: %w", t, err)
		}
		items[k] = it
	}
	if err := checkOverlaps(items, texts); err != nil {
		return nil, err
	}
	return items, nil
}

func parseItem(t string) (Injection, error) {
	if t == "" {
		return Injection{}, fmt.Errorf("empty item")
	}
	at := strings.IndexAny(t, "@%")
	if at < 0 {
		return Injection{}, fmt.Errorf("want KIND@OFFSET or KIND%%EVERY, e.g. bitflip@4096 or block%%1GiB:5")
	}
	it := Injection{Kind: Kind(strings.ToLower(strings.TrimSpace(t[:at])))}
	if !slices.Contains(kinds, it.Kind) {
		return Injection{}, fmt.Errorf("unknown kind %q (want bitflip, random, block, zero or displace)", t[:at])
	}
	args := strings.Split(t[at+1:], ":")
	maxArgs := 1
	if it.Kind == Displace {
		maxArgs = 2
	}
	if len(args)-1 > maxArgs {
		return Injection{}, fmt.Errorf("%s takes at most %d argument(s) after the position, got %d", it.Kind, maxArgs, len(args)-1)
	}
	for k, a := range args {
		if strings.TrimSpace(a) == "" {
			if k == 0 {
				return Injection{}, fmt.Errorf("missing position after %q", t[at:at+1])
			}
			return Injection{}, fmt.Errorf("empty argument %d", k)
		}
	}
	pos, err := parseSize(args[0])
	if err != nil {
		return Injection{}, err
	}
	if pos > MaxOffset {
		return Injection{}, fmt.Errorf("position %s is beyond the limit of 1024PiB (2^60)", args[0])
	}
	rate := t[at] == '%'
	if rate {
		if pos == 0 {
			return Injection{}, fmt.Errorf("EVERY must not be zero")
		}
		it.Every = pos
	} else {
		it.Off = pos
	}
	arg := func(k int) (string, bool) {
		if k < len(args) {
			return args[k], true
		}
		return "", false
	}
	size := func(k int, name string, def int64) (int64, error) {
		a, ok := arg(k)
		if !ok {
			return def, nil
		}
		n, err := parseSize(a)
		switch {
		case err != nil:
			return 0, err
		case n == 0:
			return 0, fmt.Errorf("%s must not be zero", name)
		case n > MaxLen:
			return 0, fmt.Errorf("%s %s is over the limit of 1MiB", name, a)
		}
		return n, nil
	}
	switch it.Kind {
	case Bitflip:
		it.Len = 1
		if a, ok := arg(1); ok {
			b, err := strconv.Atoi(strings.TrimSpace(a))
			if err != nil || b < 0 || b > 7 {
				return Injection{}, fmt.Errorf("bit %q: want 0 to 7", a)
			}
			it.Bit = b
		}
	case Random, Zero:
		if it.Len, err = size(1, "LEN", DefaultLen); err != nil {
			return Injection{}, err
		}
	case Block:
		it.Len = BlockSize
		if a, ok := arg(1); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
			switch {
			case err != nil || n < 0:
				return Injection{}, fmt.Errorf("block count %q: want a whole number of 16-byte blocks", a)
			case n == 0:
				return Injection{}, fmt.Errorf("block count must not be zero")
			case n > MaxLen/BlockSize:
				return Injection{}, fmt.Errorf("%d blocks are over the limit of 1MiB (%d blocks)", n, MaxLen/BlockSize)
			}
			it.Len = n * BlockSize
		}
	case Displace:
		if it.Len, err = size(1, "LEN", DefaultDispLen); err != nil {
			return Injection{}, err
		}
		if it.Back, err = size(2, "BACK", DefaultBack); err != nil {
			return Injection{}, err
		}
		if !rate && it.Off < it.Back {
			return Injection{}, fmt.Errorf("offset %d is less than BACK %d: the source would lie before the stream's start", it.Off, it.Back)
		}
	}
	if rate && it.Every < it.Len {
		return Injection{}, fmt.Errorf("EVERY %d is smaller than the injection's length %d", it.Every, it.Len)
	}
	return it, nil
}

// checkOverlaps rejects @ items whose byte ranges overlap; names are the
// items' texts for the message.
func checkOverlaps(items []Injection, names []string) error {
	var at []int
	for k, it := range items {
		if it.Every == 0 {
			at = append(at, k)
		}
	}
	slices.SortStableFunc(at, func(a, b int) int {
		switch {
		case items[a].Off < items[b].Off:
			return -1
		case items[a].Off > items[b].Off:
			return 1
		}
		return 0
	})
	for k := 1; k < len(at); k++ {
		a, b := items[at[k-1]], items[at[k]]
		if a.Off+a.Len > b.Off {
			return fmt.Errorf("inject items %q and %q overlap", names[at[k-1]], names[at[k]])
		}
	}
	return nil
}

// validate checks items built by hand (not by ParseSpec) for everything
// ParseSpec checks.
func validate(items []Injection) error {
	if len(items) > MaxItems {
		return fmt.Errorf("%d injections, at most %d are allowed", len(items), MaxItems)
	}
	names := make([]string, len(items))
	for k, it := range items {
		names[k] = it.String()
		// The canonical text must parse back to the same item.
		got, err := parseItem(names[k])
		if err != nil {
			return fmt.Errorf("inject item %q: %w", names[k], err)
		}
		if got != it {
			return fmt.Errorf("inject item %q: invalid injection %+v", names[k], it)
		}
	}
	return checkOverlaps(items, names)
}

// parseSize reads a size as the --bytes flag does.
var parseSize = units.ParseSize

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
