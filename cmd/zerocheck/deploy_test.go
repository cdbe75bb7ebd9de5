package main

// The deploy files (deploy/) run zerocheck with command lines that no
// compiler sees. These tests extract every zerocheck command line from them
// (systemd Exec lines, the cron line, the Kubernetes args lists) and parse
// each with the real command tree, so that a renamed flag or a bad value
// fails here, naming the file and line, instead of on a fleet at night.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// repoRoot is the repository root, seen from this package's directory.
const repoRoot = "../.."

// installedBinary is where docs/deploy.md installs zerocheck, and so where the
// systemd units and the cron line run it.
const installedBinary = "/usr/local/bin/zerocheck"

// imageBinary is the zerocheck image's ENTRYPOINT (deploy/Dockerfile).
const imageBinary = "/zerocheck"

// deployCommands lists the deploy files that run zerocheck, with the
// subcommand of each command line they hold, in file order. A file listed
// here that yields other commands, or none, fails the test; so does a
// command in a file not listed.
var deployCommands = map[string][]string{
	"deploy/systemd/zerocheck-recv.service":       {"recv"},
	"deploy/systemd/zerocheck-sweep.service":      {"send"},
	"deploy/cron/zerocheck":                       {"send"},
	"deploy/kubernetes/recv-daemonset.yaml":       {"recv"},
	"deploy/kubernetes/sweep-cronjob.yaml":        {"send"},
	"deploy/kubernetes/namespace.yaml":            nil,
	"deploy/kubernetes/peers-configmap.yaml":      nil,
	"deploy/kubernetes/token-secret.yaml.example": nil,
}

// commandLine is a zerocheck command line found in a deploy file.
type commandLine struct {
	file  string   // from the repository root
	line  int      // the line of the program word
	argv  []string // the words after the program: argv[0] is the subcommand
	lines []int    // lines[i] is the line of argv[i]
}

// at is the position of argv[i], or of the program word when i is out of
// range.
func (c commandLine) at(i int) string {
	if i >= 0 && i < len(c.lines) {
		return fmt.Sprintf("%s:%d", c.file, c.lines[i])
	}
	return fmt.Sprintf("%s:%d", c.file, c.line)
}

func (c commandLine) String() string {
	return fmt.Sprintf("%s:%d: zerocheck %s", c.file, c.line, strings.Join(c.argv, " "))
}

// posError is an extraction error at a file's line.
type posError struct {
	file string
	line int
	msg  string
}

func (e posError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

func errAt(file string, line int, format string, args ...any) error {
	return posError{file, line, fmt.Sprintf(format, args...)}
}

// extractor reads the zerocheck command lines of one kind of deploy file.
type extractor func(file, text string) ([]commandLine, []error)

// extractorFor picks the extractor for a deploy file by its path; nil for
// files that hold no command lines (timers, sysusers, the Dockerfile).
func extractorFor(file string) extractor {
	switch {
	case strings.HasPrefix(file, "deploy/systemd/") && strings.HasSuffix(file, ".service"):
		return systemdCommands
	case strings.HasPrefix(file, "deploy/cron/"):
		return cronCommands
	case strings.HasPrefix(file, "deploy/kubernetes/") && isYAML(file):
		return kubeCommands
	}
	return nil
}

func isYAML(file string) bool {
	return strings.HasSuffix(file, ".yaml") || strings.HasSuffix(file, ".yaml.example")
}

// deployFiles returns every file under deploy/, as paths from the
// repository root.
func deployFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	root := filepath.Join(repoRoot, "deploy")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatalf("reading deploy/: %v", err)
	}
	return files
}

func readRepoFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeployCommandLines parses every zerocheck command line of the deploy
// files with the real command tree: the subcommand must exist, every flag
// must exist and take its value, and the positional arguments must suit the
// subcommand.
func TestDeployCommandLines(t *testing.T) {
	found := map[string][]commandLine{}
	for _, file := range deployFiles(t) {
		ex := extractorFor(file)
		if ex == nil {
			continue
		}
		cmds, errs := ex(file, readRepoFile(t, file))
		for _, err := range errs {
			t.Error(err)
		}
		found[file] = cmds
	}
	for _, file := range slices.Sorted(maps.Keys(deployCommands)) {
		cmds, ok := found[file]
		if !ok {
			t.Errorf("%s: missing (or no longer read as a deploy file that can hold commands)", file)
			continue
		}
		var subs []string
		for _, c := range cmds {
			subs = append(subs, c.argv[0])
		}
		if want := deployCommands[file]; !slices.Equal(subs, want) {
			t.Errorf("%s: holds zerocheck commands %q, want %q", file, subs, want)
		}
	}
	for _, file := range slices.Sorted(maps.Keys(found)) {
		if _, ok := deployCommands[file]; !ok {
			t.Errorf("%s: not in deployCommands: list it with the subcommands of its command lines (none: nil)", file)
		}
	}
	for _, file := range slices.Sorted(maps.Keys(found)) {
		for _, c := range found[file] {
			t.Run(path.Base(file)+":"+strconv.Itoa(c.line), func(t *testing.T) {
				t.Logf("%v", c)
				for _, msg := range checkCommandLine(c) {
					t.Error(msg)
				}
			})
		}
	}
}

// flagName matches the first long flag an error message names.
var flagName = regexp.MustCompile(`--([A-Za-z0-9][A-Za-z0-9-]*)`)

// checkCommandLine parses one command line with a fresh command tree and
// returns what is wrong with it, each message with its file and line.
func checkCommandLine(c commandLine) []string {
	root := newRoot(strings.NewReader(""), io.Discard, io.Discard)
	cmd, rest, err := root.Find(c.argv)
	if err != nil || cmd == root {
		return []string{fmt.Sprintf("%s: %q is not a zerocheck command (%v)", c.at(0), c.argv[0], err)}
	}
	if cmd.Name() != c.argv[0] {
		return []string{fmt.Sprintf("%s: write the subcommand %q first and in full, not %q", c.at(0), cmd.Name(), c.argv[0])}
	}
	name := "zerocheck " + cmd.Name()
	// rest is argv without the subcommand: rest[i] is argv[i+1].
	perr := cmd.ParseFlags(rest)
	var msgs []string
	for i, w := range rest {
		if w == "--" {
			break
		}
		switch {
		case strings.HasPrefix(w, "--"):
			flag, _, _ := strings.Cut(w[2:], "=")
			if cmd.Flags().Lookup(flag) == nil {
				msgs = append(msgs, fmt.Sprintf("%s: %s: unknown flag --%s", c.at(i+1), name, flag))
			}
		case len(w) > 1 && w[0] == '-' && (i == 0 || !takesNext(cmd, rest[i-1])):
			msgs = append(msgs, fmt.Sprintf("%s: %s: %q: write flags in their long form (--name) in deploy files", c.at(i+1), name, w))
		}
	}
	if len(msgs) > 0 {
		// The other errors would follow from these: a value taken for a
		// positional argument, and so on.
		return msgs
	}
	if perr != nil {
		i := -1
		if m := flagName.FindStringSubmatch(perr.Error()); m != nil {
			i = slices.IndexFunc(rest, func(w string) bool { return w == "--"+m[1] || strings.HasPrefix(w, "--"+m[1]+"=") })
		}
		if i < 0 {
			return []string{fmt.Sprintf("%s: %s: %v", c.at(0), name, perr)}
		}
		return []string{fmt.Sprintf("%s: %s: %v", c.at(i+1), name, perr)}
	}
	args := cmd.Flags().Args()
	if err := cmd.ValidateArgs(args); err != nil {
		return []string{fmt.Sprintf("%s: %s: positional arguments %q: %v", c.at(0), name, args, err)}
	}
	return nil
}

// takesNext reports whether word is a flag that takes the next word as its
// value (--name value, not --name=value nor a boolean).
func takesNext(cmd *cobra.Command, word string) bool {
	name, ok := strings.CutPrefix(word, "--")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	f := cmd.Flags().Lookup(name)
	return f != nil && f.NoOptDefVal == ""
}

// ---- systemd ----

// systemdExecKeys are the settings of a service that run commands.
var systemdExecKeys = map[string]bool{
	"ExecCondition": true, "ExecStartPre": true, "ExecStart": true, "ExecStartPost": true,
	"ExecReload": true, "ExecStop": true, "ExecStopPost": true,
}

// systemdCommands extracts the zerocheck commands of a unit's Exec lines.
// It reads the subset of systemd's syntax the units use: KEY=VALUE, a
// trailing backslash continuing a line, words split on blanks with "..." or
// '...' quoting. Anything systemd would rewrite ($VAR, %specifiers, escapes,
// the - @ : + ! prefixes) is refused rather than guessed at.
func systemdCommands(file, text string) ([]commandLine, []error) {
	var cmds []commandLine
	var errs []error
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		first := i + 1
		l := strings.TrimSpace(lines[i])
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		type piece struct {
			text string
			line int
		}
		pieces := []piece{{l, first}}
		for strings.HasSuffix(pieces[len(pieces)-1].text, `\`) {
			last := &pieces[len(pieces)-1]
			last.text = strings.TrimSuffix(last.text, `\`)
			i++
			if i == len(lines) {
				errs = append(errs, errAt(file, first, "continued line at the end of the file"))
				break
			}
			next := strings.TrimSpace(lines[i])
			if next != "" && (next[0] == '#' || next[0] == ';') {
				errs = append(errs, errAt(file, i+1, "comment inside a continued line: not read by this test"))
			}
			pieces = append(pieces, piece{next, i + 1})
		}
		key, value, ok := strings.Cut(pieces[0].text, "=")
		if !ok {
			errs = append(errs, errAt(file, first, "not KEY=VALUE: %q", pieces[0].text))
			continue
		}
		if !systemdExecKeys[strings.TrimSpace(key)] {
			continue
		}
		pieces[0].text = value
		var words []string
		var wordLines []int
		bad := false
		for _, p := range pieces {
			ws, err := systemdWords(p.text)
			if err != nil {
				errs = append(errs, errAt(file, p.line, "%s: %v", strings.TrimSpace(key), err))
				bad = true
				break
			}
			for _, w := range ws {
				words = append(words, w)
				wordLines = append(wordLines, p.line)
			}
		}
		if bad {
			continue
		}
		if len(words) == 0 {
			errs = append(errs, errAt(file, first, "%s: no command", strings.TrimSpace(key)))
			continue
		}
		if words[0] == "" || strings.IndexByte("-@:+!|", words[0][0]) >= 0 {
			errs = append(errs, errAt(file, first, "%s: program %q: prefixes are not read by this test", strings.TrimSpace(key), words[0]))
			continue
		}
		if path.Base(words[0]) != "zerocheck" {
			continue
		}
		if words[0] != installedBinary {
			errs = append(errs, errAt(file, first, "runs %s, want %s (where docs/deploy.md installs it)", words[0], installedBinary))
			continue
		}
		if len(words) == 1 {
			errs = append(errs, errAt(file, first, "zerocheck without a subcommand"))
			continue
		}
		cmds = append(cmds, commandLine{file: file, line: wordLines[0], argv: words[1:], lines: wordLines[1:]})
	}
	return cmds, errs
}

// systemdWords splits one physical line of an Exec value into words.
func systemdWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '$' || ch == '%' || ch == '\\' || ch == ';':
			return nil, fmt.Errorf("%q in %q: systemd would expand or split it; not read by this test", ch, s)
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '"' || ch == '\'':
			end := strings.IndexByte(s[i+1:], ch)
			if end < 0 {
				return nil, fmt.Errorf("unclosed %c in %q", ch, s)
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// ---- cron ----

var (
	cronEnv   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\s*=`)
	cronField = regexp.MustCompile(`^[0-9A-Za-z*/,-]+$`)
	cronAt    = map[string]bool{"@reboot": true, "@yearly": true, "@annually": true, "@monthly": true, "@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}
)

// cronCommands extracts the zerocheck commands of an /etc/cron.d file: in
// each entry (five time fields or an @keyword, a user, a shell command), the
// words after the zerocheck program up to the first shell operator or
// redirection. The entry must run as the zerocheck user, and its command
// must hold no unescaped %, which cron turns into a newline.
func cronCommands(file, text string) ([]commandLine, []error) {
	var cmds []commandLine
	var errs []error
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		l := strings.TrimSpace(raw)
		if l == "" || l[0] == '#' || cronEnv.MatchString(l) {
			continue
		}
		nTime := 5
		if l[0] == '@' {
			nTime = 1
		}
		fields, command := cutFields(l, nTime+1)
		if len(fields) < nTime+1 || command == "" {
			errs = append(errs, errAt(file, n, "not a cron.d entry (time fields, user, command): %q", l))
			continue
		}
		for _, f := range fields[:nTime] {
			if nTime == 1 && !cronAt[f] || nTime == 5 && !cronField.MatchString(f) {
				errs = append(errs, errAt(file, n, "bad time field %q", f))
			}
		}
		if user := fields[nTime]; user != "zerocheck" {
			errs = append(errs, errAt(file, n, "runs as %q, want zerocheck (the owner of the 0600 token)", user))
		}
		for j := 0; j < len(command); j++ {
			if command[j] == '%' && (j == 0 || command[j-1] != '\\') {
				errs = append(errs, errAt(file, n, "unescaped %% in the command: cron turns it into a newline"))
				break
			}
		}
		words, err := shellWords(command)
		if err != nil {
			errs = append(errs, errAt(file, n, "%v", err))
			continue
		}
		prog := slices.IndexFunc(words, func(w shellWord) bool { return !w.op && path.Base(w.text) == "zerocheck" })
		if prog < 0 {
			continue
		}
		if words[prog].text != installedBinary {
			errs = append(errs, errAt(file, n, "runs %s, want %s (where docs/deploy.md installs it)", words[prog].text, installedBinary))
			continue
		}
		c := commandLine{file: file, line: n}
		for _, w := range words[prog+1:] {
			if w.op {
				break
			}
			if w.meta {
				errs = append(errs, errAt(file, n, "zerocheck argument %q: the shell would expand it; not read by this test", w.raw))
			}
			c.argv = append(c.argv, strings.ReplaceAll(w.text, `\%`, "%"))
			c.lines = append(c.lines, n)
		}
		if len(c.argv) == 0 {
			errs = append(errs, errAt(file, n, "zerocheck without a subcommand"))
			continue
		}
		cmds = append(cmds, c)
	}
	return cmds, errs
}

// cutFields splits off the first n blank-separated fields of s and returns
// them and the rest.
func cutFields(s string, n int) ([]string, string) {
	var fields []string
	for len(fields) < n {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		fields = append(fields, s[:end])
		s = s[end:]
	}
	return fields, strings.TrimSpace(s)
}

// shellWord is a word of a shell command line.
type shellWord struct {
	text string // after quote removal
	raw  string // as written
	op   bool   // an operator or redirection: | || & && ; < > >> 2>&1 ...
	meta bool   // holds something the shell expands: $, `, globs, ~
}

// shellWords splits a POSIX shell command line into words and operators,
// with '...', "..." and backslash quoting. It refuses what it cannot place:
// comments, subshells, here-documents.
func shellWords(s string) ([]shellWord, error) {
	var words []shellWord
	var cur shellWord
	var text, raw strings.Builder
	started := false
	flush := func() {
		if started {
			cur.text, cur.raw = text.String(), raw.String()
			words = append(words, cur)
		}
		cur, started = shellWord{}, false
		text.Reset()
		raw.Reset()
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			flush()
		case strings.IndexByte("|&;<>", ch) >= 0:
			// An operator; digits just before a redirection (2>) belong to it.
			if started && !(strings.Trim(raw.String(), "0123456789") == "" && (ch == '<' || ch == '>')) {
				flush()
			}
			j := i
			for j < len(s) && strings.IndexByte("|&;<>", s[j]) >= 0 {
				j++
			}
			op := s[i:j]
			if op == "<<" || op == "<<-" {
				return nil, fmt.Errorf("here-document in %q: not read by this test", s)
			}
			if strings.HasSuffix(op, "&") && j < len(s) && s[j] >= '0' && s[j] <= '9' && (op == ">&" || op == "<&") {
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			raw.WriteString(s[i:j])
			text.WriteString(s[i:j])
			started, cur.op = true, true
			flush()
			i = j - 1
		case ch == '(' || ch == ')' || ch == '#' && !started:
			return nil, fmt.Errorf("%q in %q: subshells and comments are not read by this test", ch, s)
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", s)
			}
			text.WriteString(s[i+1 : i+1+end])
			raw.WriteString(s[i : i+2+end])
			started = true
			i += end + 1
		case ch == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				switch {
				case s[j] == '\\' && j+1 < len(s) && strings.IndexByte("\"\\$`", s[j+1]) >= 0:
					j++
					text.WriteByte(s[j])
				case s[j] == '$' || s[j] == '`':
					cur.meta = true
					text.WriteByte(s[j])
				default:
					text.WriteByte(s[j])
				}
			}
			if j == len(s) {
				return nil, fmt.Errorf("unclosed \" in %q", s)
			}
			raw.WriteString(s[i : j+1])
			started = true
			i = j
		case ch == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("trailing backslash in %q", s)
			}
			if s[i+1] == '%' {
				text.WriteString(`\%`) // cron's escape; cronCommands removes the backslash
			} else {
				text.WriteByte(s[i+1])
			}
			raw.WriteString(s[i : i+2])
			started = true
			i++
		default:
			if strings.IndexByte("$`*?[{", ch) >= 0 || ch == '~' && !started {
				cur.meta = true
			}
			text.WriteByte(ch)
			raw.WriteByte(ch)
			started = true
		}
	}
	flush()
	return words, nil
}

// ---- Kubernetes YAML ----

// yamlLine is a line of a YAML file, as the cheap checks and the extractor
// see it.
type yamlLine struct {
	n      int    // 1-based
	indent int    // leading spaces
	body   string // after the indent, the comment cut and trailing blanks trimmed; "" for a blank or comment line
	block  bool   // the content of a block scalar (| or >): text, not structure
	docSep bool   // a "---" document separator
}

var (
	yamlKey        = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_./-]*):(?:\s+(.*))?$`)
	yamlBlockStart = regexp.MustCompile(`(?:^|:\s|^-\s)\s*[|>][-+0-9]*$`)
	// yamlNonString matches plain scalars that YAML (1.1, as Kubernetes
	// reads it, or 1.2) resolves to something other than a string.
	yamlNonString = regexp.MustCompile(`^(?i:y|n|yes|no|on|off|true|false|null|~|[-+]?(?:0|[1-9][0-9_]*|0[0-7_]+|0x[0-9a-f_]+|0o[0-7]+|0b[01_]+)|[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:e[-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?e[-+]?[0-9]+|[-+]?\.inf|\.nan|[0-9]+(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$`)
)

// scanYAML splits a YAML file into lines and runs the cheap structural
// checks: no tabs, even indentation, quotes closed and flow brackets
// balanced on each line, and every document a mapping that starts at column
// 0 and has apiVersion and kind, each once.
func scanYAML(file, text string) ([]yamlLine, []error) {
	var lines []yamlLine
	var errs []error
	blockIndent := -1 // the indent of the line that opened a block scalar
	type doc struct {
		start int
		keys  map[string]int
	}
	var d *doc
	endDoc := func() {
		if d == nil {
			return
		}
		for _, k := range []string{"apiVersion", "kind"} {
			if d.keys[k] == 0 {
				errs = append(errs, errAt(file, d.start, "document without %s", k))
			}
		}
		d = nil
	}
	for i, raw := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		if strings.ContainsRune(raw, '\t') {
			errs = append(errs, errAt(file, n, "tab: YAML indents with spaces"))
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		if blockIndent >= 0 {
			if strings.TrimSpace(raw) == "" || indent > blockIndent {
				lines = append(lines, yamlLine{n: n, indent: indent, body: strings.TrimSpace(raw), block: true})
				continue
			}
			blockIndent = -1
		}
		if strings.TrimRight(raw, " ") == "---" {
			lines = append(lines, yamlLine{n: n, docSep: true})
			endDoc()
			continue
		}
		body, err := cutYAMLComment(raw[indent:])
		if err != nil {
			errs = append(errs, errAt(file, n, "%v", err))
		}
		l := yamlLine{n: n, indent: indent, body: body}
		lines = append(lines, l)
		if body == "" {
			continue
		}
		if indent%2 != 0 {
			errs = append(errs, errAt(file, n, "indented by %d spaces: not a multiple of 2", indent))
		}
		if err := balancedFlow(body); err != nil {
			errs = append(errs, errAt(file, n, "%v", err))
		}
		if d == nil {
			d = &doc{start: n, keys: map[string]int{}}
			if indent != 0 {
				errs = append(errs, errAt(file, n, "a document must start at column 0"))
			}
		}
		if indent == 0 {
			m := yamlKey.FindStringSubmatch(body)
			if m == nil {
				errs = append(errs, errAt(file, n, "top level: want KEY: VALUE, got %q", body))
			} else {
				if d.keys[m[1]] != 0 {
					errs = append(errs, errAt(file, n, "%s again (first at line %d)", m[1], d.keys[m[1]]))
				} else {
					d.keys[m[1]] = n
				}
			}
		}
		if yamlBlockStart.MatchString(body) {
			blockIndent = indent
		}
	}
	endDoc()
	return lines, errs
}

// cutYAMLComment cuts a comment off a line's body (a # at its start or after
// a blank, outside quotes) and trims trailing blanks. It fails on a quote
// left open.
func cutYAMLComment(s string) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '"' && ch == '\\':
			i++
		case quote != 0:
			if ch == quote {
				if quote == '\'' && i+1 < len(s) && s[i+1] == '\'' {
					i++
				} else {
					quote = 0
				}
			}
		case ch == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimRight(s[:i], " "), nil
		case (ch == '"' || ch == '\'') && (i == 0 || strings.IndexByte(" [{,:-", s[i-1]) >= 0):
			quote = ch
		}
	}
	if quote != 0 {
		return "", fmt.Errorf("unclosed %c", quote)
	}
	return strings.TrimRight(s, " "), nil
}

// balancedFlow checks that [ ] and { } outside quotes pair up on a line.
func balancedFlow(s string) error {
	var stack []byte
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '"' && ch == '\\':
			i++
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case (ch == '"' || ch == '\'') && (i == 0 || strings.IndexByte(" [{,:-", s[i-1]) >= 0):
			quote = ch
		case ch == '[' || ch == '{':
			stack = append(stack, ch)
		case ch == ']' || ch == '}':
			want := byte('[')
			if ch == '}' {
				want = '{'
			}
			if len(stack) == 0 || stack[len(stack)-1] != want {
				return fmt.Errorf("unbalanced %c in %q", ch, s)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %c in %q (a flow collection over several lines is not read by this test)", stack[len(stack)-1], s)
	}
	return nil
}

// yamlScalar reads a scalar written on one line: plain, "double-quoted" or
// 'single-quoted'. A plain scalar that YAML would read as something other
// than a string (a number, a boolean, null) or that starts with an
// indicator is refused: Kubernetes wants strings in args.
func yamlScalar(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("empty item")
	case s[0] == '"':
		if len(s) < 2 || s[len(s)-1] != '"' {
			return "", fmt.Errorf("%s: text after the closing quote", s)
		}
		v, err := strconv.Unquote(s)
		if err != nil {
			return "", fmt.Errorf("%s: %v", s, err)
		}
		return v, nil
	case s[0] == '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' {
			return "", fmt.Errorf("%s: text after the closing quote", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.IndexByte("[]{},&*!|>%@`#?:", s[0]) >= 0 || strings.HasPrefix(s, "- "):
		return "", fmt.Errorf("%s: starts with a YAML indicator; quote it", s)
	case strings.Contains(s, ": ") || strings.HasSuffix(s, ":"):
		return "", fmt.Errorf("%s: reads as a mapping; quote it", s)
	case yamlNonString.MatchString(s):
		return "", fmt.Errorf("%s: YAML reads it as a number, boolean or null, not a string; quote it", s)
	}
	return s, nil
}

// yamlContainer gathers the keys of one mapping that make a container's
// command line.
type yamlContainer struct {
	indent        int
	line          int
	image         string
	command, args []yamlItem
	hasCmd        bool
	hasArgs       bool
}

type yamlItem struct {
	value string
	line  int
}

// kubeCommands extracts the zerocheck commands of a Kubernetes manifest: in
// each mapping with image, command or args keys (a container), the command
// and args lists, which must be block sequences of one-line scalars:
//
//	args:
//	  - recv
//	  - --listen=:7777
//
// A container whose image is the zerocheck image yields argv = command
// (if any, which must be [/zerocheck], the ENTRYPOINT) + args; a mapping
// without image yields one when its command runs zerocheck; others (an
// init container's shell) are skipped, though their lists must still be in
// the form above.
func kubeCommands(file, text string) ([]commandLine, []error) {
	lines, _ := scanYAML(file, text) // its errors are TestDeployYAML's to report
	var cmds []commandLine
	var errs []error
	open := map[int]*yamlContainer{}
	flush := func(c *yamlContainer) {
		zimage := strings.HasPrefix(c.image, "ghcr.io/zerocheck/zerocheck:") || strings.HasPrefix(c.image, "ghcr.io/zerocheck/zerocheck@")
		var argv []yamlItem
		switch {
		case zimage && c.hasCmd:
			if len(c.command) != 1 || c.command[0].value != imageBinary {
				errs = append(errs, errAt(file, c.line, "command of the zerocheck image: want [%s] (its ENTRYPOINT) or none", imageBinary))
				return
			}
			argv = c.args
		case zimage:
			argv = c.args
		case c.image == "" && c.hasCmd && len(c.command) > 0 && path.Base(c.command[0].value) == "zerocheck":
			argv = append(c.command[1:len(c.command):len(c.command)], c.args...)
		default:
			return
		}
		if len(argv) == 0 {
			errs = append(errs, errAt(file, c.line, "zerocheck container without args"))
			return
		}
		cl := commandLine{file: file, line: argv[0].line}
		for _, it := range argv {
			if strings.Contains(it.value, "$(") {
				errs = append(errs, errAt(file, it.line, "%q: Kubernetes would expand $(VAR); not read by this test", it.value))
			}
			cl.argv = append(cl.argv, it.value)
			cl.lines = append(cl.lines, it.line)
		}
		cmds = append(cmds, cl)
	}
	flushFrom := func(indent int) { // mappings at indent or deeper have ended
		var ended []*yamlContainer
		for k, c := range open {
			if k >= indent {
				ended = append(ended, c)
				delete(open, k)
			}
		}
		slices.SortFunc(ended, func(a, b *yamlContainer) int { return a.line - b.line })
		for _, c := range ended {
			flush(c)
		}
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l.docSep {
			flushFrom(0)
			continue
		}
		if l.block || l.body == "" {
			continue
		}
		flushFrom(l.indent + 1)
		body, keyIndent := l.body, l.indent
		if rest, ok := strings.CutPrefix(body, "- "); ok {
			// An item that may start a mapping, whose keys are deeper.
			flushFrom(l.indent)
			body = strings.TrimLeft(rest, " ")
			keyIndent = l.indent + len(l.body) - len(body)
		}
		m := yamlKey.FindStringSubmatch(body)
		if m == nil || (m[1] != "image" && m[1] != "command" && m[1] != "args") {
			continue
		}
		c := open[keyIndent]
		if c == nil {
			c = &yamlContainer{indent: keyIndent, line: l.n}
			open[keyIndent] = c
		}
		switch m[1] {
		case "image":
			v, err := yamlScalar(m[2])
			if err != nil {
				errs = append(errs, errAt(file, l.n, "image: %v", err))
			}
			c.image = v
		case "command", "args":
			if m[2] != "" {
				errs = append(errs, errAt(file, l.n, "%s: write it as a block list, one item per line (the only form this test reads)", m[1]))
				continue
			}
			items, next, errLine, err := yamlList(lines, i+1, keyIndent)
			if err != nil {
				errs = append(errs, errAt(file, errLine, "%s (line %d): %v", m[1], l.n, err))
			}
			if m[1] == "command" {
				if c.hasCmd {
					errs = append(errs, errAt(file, l.n, "command again"))
				}
				c.command, c.hasCmd = items, true
			} else {
				if c.hasArgs {
					errs = append(errs, errAt(file, l.n, "args again"))
				}
				c.args, c.hasArgs = items, true
			}
			i = next - 1
		}
	}
	flushFrom(0)
	return cmds, errs
}

// yamlList reads the block sequence of scalars that follows a key at
// keyIndent, from lines[start]. It returns the items, the index of the first
// line after the list, and on error the line at fault.
func yamlList(lines []yamlLine, start, keyIndent int) ([]yamlItem, int, int, error) {
	var items []yamlItem
	itemIndent := -1
	for j := start; j < len(lines); j++ {
		l := lines[j]
		if l.docSep {
			return items, j, 0, nil
		}
		if l.block {
			return items, j, l.n, errors.New("a block scalar in a command list is not read by this test")
		}
		if l.body == "" {
			continue
		}
		isItem := l.body == "-" || strings.HasPrefix(l.body, "- ")
		if itemIndent < 0 {
			if !isItem || l.indent < keyIndent {
				return items, j, l.n, errors.New("empty list")
			}
			itemIndent = l.indent
		}
		if l.indent < itemIndent || l.indent == itemIndent && !isItem {
			return items, j, 0, nil
		}
		if l.indent > itemIndent {
			return items, j, l.n, errors.New("a continued or nested item is not read by this test")
		}
		v, err := yamlScalar(strings.TrimSpace(strings.TrimPrefix(l.body, "-")))
		if err != nil {
			return items, j, l.n, err
		}
		items = append(items, yamlItem{v, l.n})
	}
	return items, len(lines), 0, nil
}

// TestDeployYAML runs the cheap structural checks on every manifest, those
// that hold no command lines included.
func TestDeployYAML(t *testing.T) {
	n := 0
	for _, file := range deployFiles(t) {
		if !strings.HasPrefix(file, "deploy/kubernetes/") {
			continue
		}
		if !isYAML(file) {
			t.Errorf("%s: name manifests *.yaml, or *.yaml.example for those that kubectl apply -f deploy/kubernetes/ must skip", file)
			continue
		}
		n++
		_, errs := scanYAML(file, readRepoFile(t, file))
		for _, err := range errs {
			t.Error(err)
		}
	}
	if n == 0 {
		t.Error("deploy/kubernetes: no manifests")
	}
}

// TestDeployDockerfile checks what the manifests rely on: the image runs
// imageBinary, built from ./cmd/zerocheck without cgo, for the target's
// architecture from the builder's, stamped with its version and labelled;
// and the build context leaves the VCS history out.
func TestDeployDockerfile(t *testing.T) {
	text := readRepoFile(t, "deploy/Dockerfile")
	for _, want := range []string{
		`ENTRYPOINT ["` + imageBinary + `"]`,
		"CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build",
		"FROM --platform=$BUILDPLATFORM ",
		"-X main.version=${VERSION} -X main.revision=${REVISION}",
		"org.opencontainers.image.version=\"${VERSION}\"",
		"org.opencontainers.image.revision=\"${REVISION}\"",
		"./cmd/zerocheck",
		"USER 65532:65532", // runAsUser in the manifests
	} {
		if !strings.Contains(text, want) {
			t.Errorf("deploy/Dockerfile: no %q", want)
		}
	}
	ignore := strings.Fields(readRepoFile(t, ".dockerignore"))
	if !slices.Contains(ignore, ".git") {
		t.Errorf(".dockerignore does not leave .git out of the build context: %q", ignore)
	}
}

// TestDeploySystemdVerify runs systemd-analyze verify on the units, with
// the program path pointed at the test binary (verify wants it to exist).
// Warnings (an unknown key, a bad value) fail the test too.
func TestDeploySystemdVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH: the units are not verified by systemd (their command lines still are, by TestDeployCommandLines)")
	}
	dir := t.TempDir()
	var units []string
	for _, file := range deployFiles(t) {
		if !strings.HasPrefix(file, "deploy/systemd/") || !(strings.HasSuffix(file, ".service") || strings.HasSuffix(file, ".timer")) {
			continue
		}
		text := strings.ReplaceAll(readRepoFile(t, file), installedBinary, bin)
		p := filepath.Join(dir, path.Base(file))
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	if len(units) == 0 {
		t.Fatal("deploy/systemd: no units")
	}
	cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, units...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		mine := false
		for _, u := range units {
			if strings.Contains(line, path.Base(u)) {
				mine = true
			}
		}
		if mine {
			t.Errorf("systemd-analyze verify: %s", strings.ReplaceAll(line, dir+"/", "deploy/systemd/"))
		} else {
			t.Logf("systemd-analyze verify (not about these units): %s", line)
		}
	}
}
