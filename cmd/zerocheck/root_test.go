package main

import (
	"io"
	"strings"
	"testing"
)

// firstLine is the first line of s: the message line of an error.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestMistypedFlagSuggestion: a mistyped flag, or a long flag typed with
// one dash, is a usage error that names the flag meant.
func TestMistypedFlagSuggestion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "127.0.0.1", "--byts", "1M"}, "zerocheck: unknown flag: --byts (did you mean --bytes?)"},
		{[]string{"send", "127.0.0.1", "--duraton=5s"}, "zerocheck: unknown flag: --duraton (did you mean --duration?)"},
		{[]string{"send", "127.0.0.1", "-bytes", "1M"}, "zerocheck: unknown shorthand flag: 'b' in -bytes (did you mean --bytes?)"},
		{[]string{"recv", "--lisen", ":7777"}, "zerocheck: unknown flag: --lisen (did you mean --listen?)"},
		{[]string{"recv", "--tokenfile", "t"}, "zerocheck: unknown flag: --tokenfile (did you mean --token-file?)"},
		{[]string{"recv", "--max-sess", "3"}, "zerocheck: unknown flag: --max-sess (did you mean --max-sessions?)"},
		{[]string{"verify", "--patern", "zeros"}, "zerocheck: unknown flag: --patern (did you mean --pattern?)"},
		{[]string{"loopback", "--stream", "2"}, "zerocheck: unknown flag: --stream (did you mean --streams?)"},
		// Nothing near: no guess.
		{[]string{"verify", "--frobnicate"}, "zerocheck: unknown flag: --frobnicate"},
	} {
		code, stdout, stderr := inproc(t, nil, tc.args...)
		if code != exitUsage || firstLine(stderr) != tc.want || stdout != "" || !strings.Contains(stderr, "--help' for usage.") {
			t.Errorf("%v: exit %d, first line %q, want 2 and %q", tc.args, code, firstLine(stderr), tc.want)
		}
	}
}

// TestMistypedCommandSuggestion: cobra's command suggestions, and the
// words people use for recv and send that are too far for them.
func TestMistypedCommandSuggestion(t *testing.T) {
	for typed, want := range map[string]string{"sned": "send", "recieve": "recv", "receive": "recv", "loopbak": "loopback", "client": "send"} {
		code, _, stderr := inproc(t, nil, typed)
		wantText := "zerocheck: unknown command \"" + typed + "\" for \"zerocheck\"\n\nDid you mean this?\n\t" + want + "\n"
		if code != exitUsage || !strings.HasPrefix(stderr, wantText) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", typed, code, stderr, wantText)
		}
	}
}

// TestUsageErrorPointsAtHelp: a usage error prints the error and one
// line naming the command's --help, not the whole help text.
func TestUsageErrorPointsAtHelp(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"mistyped value", []string{"send", "127.0.0.1", "--streams", "four"},
			"zerocheck: invalid argument \"four\" for \"-P, --streams\" flag: strconv.ParseInt: parsing \"four\": invalid syntax\n" +
				"Run 'zerocheck send --help' for usage.\n"},
		{"conflicting flags", []string{"send", "127.0.0.1", "--bytes", "1M", "--duration", "5s"},
			"zerocheck: --bytes and --duration exclude each other\n" +
				"Run 'zerocheck send --help' for usage.\n"},
		{"missing argument", []string{"analyze"},
			"zerocheck: requires at least 1 arg(s), only received 0\n" +
				"Run 'zerocheck analyze --help' for usage.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := inproc(t, nil, tc.args...)
			if code != exitUsage || stderr != tc.want || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// TestJShorthandIsJSON: -J is --json on every command that has --json,
// and no command uses -J for anything else.
func TestJShorthandIsJSON(t *testing.T) {
	root := newRoot(nil, io.Discard, io.Discard)
	var with []string
	for _, c := range root.Commands() {
		if f := c.Flags().ShorthandLookup("J"); f != nil && f.Name != "json" {
			t.Errorf("%s: -J is --%s", c.Name(), f.Name)
		}
		if f := c.Flags().Lookup("json"); f != nil {
			with = append(with, c.Name())
			if f.Shorthand != "J" {
				t.Errorf("%s: --json has shorthand %q, want J", c.Name(), f.Shorthand)
			}
		}
	}
	if len(with) < 6 {
		t.Errorf("--json on %v only", with)
	}
	code, out, stderr := inproc(t, nil, "hostinfo", "-J")
	if code != exitClean || !strings.HasPrefix(out, "{") {
		t.Fatalf("hostinfo -J: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
