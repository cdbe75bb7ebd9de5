package main

// The examples users copy: every zerocheck command line of each command's
// --help Example and of the sh blocks of the README and docs/*.md.
// TestDocExamples extracts them, parses each with the real command tree, and runs each for real on
// 127.0.0.1, asserting what its text claims (exit code, verdict, what the
// output says). To run here, an example's words are substituted: host
// names by 127.0.0.1 test addresses, well-known ports by free ones, /etc
// and /var paths by test files, 10.0.0.0/8 by 127.0.0.0/8, eth0 by lo; and
// scaled: sizes of 1 GiB and more become as many MiB (--bytes, --inject,
// head -c), durations over 2 s become 1 s, and a run without --bytes or
// --duration gets -t 1. nc's part is played by the test (a listener, a
// dialer), as is jq's. An example that cannot run here at all (none today)
// is listed with why, and still parsed.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/internal/units"
)

// docExample is a zerocheck command line shown to users.
type docExample struct {
	where []string // README.md:LINE, docs/PAGE.md:LINE, or "zerocheck CMD --help"
	text  string   // the shell line: prompt and comment cut, continuations joined
	argv  []string // zerocheck's arguments, from the subcommand on
}

// exampleRun runs one example and checks what its text claims; nil with a
// reason for an example that cannot run here.
type exampleRun struct {
	run    func(t *testing.T, e *docEnv, ex docExample)
	reason string
}

// exampleRuns maps every example's text to its run. An example missing
// here, or an entry no doc shows any more, fails TestDocExamples.
var exampleRuns = map[string]exampleRun{
	// recv
	"zerocheck recv": {run: tryRecvServes},
	"zerocheck recv --listen 10.0.0.2:7777 --once --json": {run: tryRecvOnceJSON},
	"zerocheck recv --token-file /etc/zerocheck/token --allow 10.0.0.0/8 --report-dir /var/lib/zerocheck/reports --health 127.0.0.1:7778 --log-format json -q":                                                                               {run: tryRecvService},
	"zerocheck recv --token-file /etc/zerocheck/token --allow 10.0.0.0/8 --report-dir /var/lib/zerocheck/reports --prom-textfile /var/lib/node_exporter/textfile_collector/zerocheck-recv.prom --health 127.0.0.1:7778 --log-format json -q": {run: tryRecvService},
	"zerocheck recv --raw --pattern zeros --once": {run: tryRecvRaw},

	// send
	"zerocheck send hostB": {run: trySend},
	"zerocheck send hostB:7777 --pattern random --streams 4 --duration 60s":                                                                  {run: trySend},
	"zerocheck send hostB --pattern random --streams 4 --duration 60s":                                                                       {run: trySend},
	"zerocheck send hostB --bidir --bytes 100GiB --rate 2G --json":                                                                           {run: trySend},
	"zerocheck send hostB --bidir --bytes 100GiB --rate 2G --json >run.json":                                                                 {run: trySend},
	"zerocheck send --peers /etc/zerocheck/peers --token-file /etc/zerocheck/token --duration 5m --report-dir /var/lib/zerocheck/reports -q": {run: trySendPeers},
	"zerocheck send --token-file /etc/zerocheck/token --peers /etc/zerocheck/peers --duration 5m --report-dir /var/lib/zerocheck/reports -q": {run: trySendPeers},
	"zerocheck send --raw --pattern zeros --bytes 1GiB 127.0.0.1:8080":                                                                       {run: trySendRaw},
	"zerocheck send --raw --pattern zeros --bytes 1MiB hostB":                                                                                {run: trySendRaw},
	"30 2 * * * f=/var/lib/zerocheck/sweep/$(date +\\%F).json; zerocheck send hostB --pattern random --streams 4 --bidir --duration 5m --rate 5G --quiet --json >\"$f\"; /usr/local/bin/zerocheck-alert $? \"$f\"": {reason: "run as cron runs it, with the zerocheck-alert script, by TestDocAlertSnippet"},

	// verify and gen, nc's partners
	"nc -l 8080 | zerocheck verify --pattern zeros":                            {run: tryVerifyFromNC},
	"zerocheck verify --pattern counter --bytes 1GiB --json capture.bin":       {run: tryVerifyFile},
	"zerocheck gen --bytes 1G | nc -N hostB 8080":                              {run: tryGenToNC},
	"zerocheck gen --pattern zeros --bytes 10GiB | nc -N hostB 8080":           {run: tryGenToNC},
	"zerocheck gen --pattern counter --offset 4096 --bytes 64KiB | xxd | head": {run: tryGenCounter},

	// loopback
	"zerocheck loopback": {run: tryLoopback},
	"zerocheck loopback --pattern random --streams 4 --bytes 4GiB --json": {run: tryLoopback},
	"zerocheck loopback --bidir --duration 30s":                           {run: tryLoopback},

	// relay: the fire drills
	"zerocheck relay --listen :7778 --to hostB:7777 --inject block@1GiB:5,bitflip%10GiB": {run: tryRelayDrill},
	"zerocheck send hostR:7778 --duration 5m; echo \"exit $?\"":                          {run: tryRelayDrill},
	"zerocheck relay --listen :7778 --to hostB:7777 --inject block@1MiB:5,bitflip%4MiB":  {reason: "run verbatim, regions checked to the byte, by TestRelayHelpExample"},

	// hostinfo
	"zerocheck hostinfo":                                 {run: tryHostinfo},
	"zerocheck hostinfo --interface eth0 --json":         {run: tryHostinfo},
	"zerocheck hostinfo --root /var/tmp/sosreport-hostA": {run: tryHostinfo},
	"zerocheck hostinfo --root /srv/sosreport-hostA":     {run: tryHostinfo},

	// analyze
	"zerocheck analyze /var/lib/zerocheck/reports /var/lib/zerocheck/sweep":                         {run: tryAnalyze},
	"zerocheck analyze --top 50 hostA/sweep/*.json hostB/reports":                                   {run: tryAnalyze},
	"zerocheck analyze --json /var/lib/zerocheck/reports /var/lib/zerocheck/sweep | jq '.facts[0]'": {run: tryAnalyze},
	"zerocheck analyze reports/": {run: tryAnalyze},
	"zerocheck analyze --top 50 reports/hostA/sweep reports/hostB/reports": {run: tryAnalyze},
	"zerocheck analyze --json reports/ | jq '.facts[:3]'":                  {run: tryAnalyze},

	// The README's first lines: go run is the binary, built.
	"go run ./cmd/zerocheck loopback": {run: tryLoopback},
}

// exampleRunsByPrefix runs the examples that start so, whatever their
// injections: a drill's spec is tuned to what it must show, the run is
// the same.
var exampleRunsByPrefix = map[string]exampleRun{
	"zerocheck relay --raw ": {run: tryRelayRawDrill},
}

// exampleRunFor finds an example's run, and the key it is listed under.
func exampleRunFor(text string) (exampleRun, string, bool) {
	if r, ok := exampleRuns[text]; ok {
		return r, text, true
	}
	for prefix, r := range exampleRunsByPrefix {
		if strings.HasPrefix(text, prefix) {
			return r, prefix, true
		}
	}
	return exampleRun{}, "", false
}

// TestDocExamples: every example parses with the real command tree and
// does what its text says when run.
func TestDocExamples(t *testing.T) {
	exs := docExamples(t)
	seen := map[string]bool{}
	for _, ex := range exs {
		if err := parseArgv(ex.argv); err != nil {
			t.Errorf("%s: %s: %v", strings.Join(ex.where, ", "), ex.text, err)
		}
		if _, key, ok := exampleRunFor(ex.text); ok {
			seen[key] = true
		}
	}
	for _, text := range slices.Sorted(maps.Keys(exampleRuns)) {
		if !seen[text] {
			t.Errorf("exampleRuns has %q, which no doc shows any more: remove it", text)
		}
	}
	for _, prefix := range slices.Sorted(maps.Keys(exampleRunsByPrefix)) {
		if !seen[prefix] {
			t.Errorf("exampleRunsByPrefix has %q, which no doc example starts with any more: remove it", prefix)
		}
	}
	for _, ex := range exs {
		r, _, ok := exampleRunFor(ex.text)
		if !ok {
			t.Errorf("%s: %q is not in exampleRuns: add how to run it (or why it cannot run here)", strings.Join(ex.where, ", "), ex.text)
			continue
		}
		if r.run == nil {
			t.Logf("%s: not run: %s", ex.text, r.reason)
			continue
		}
		// Named by where it is shown and its first words: the whole text
		// holds $( and quotes, which would reach the temporary paths.
		t.Run(ex.where[0]+" "+strings.Join(ex.argv[:min(3, len(ex.argv))], " "), func(t *testing.T) {
			t.Logf("%s (shown at %s)", ex.text, strings.Join(ex.where, ", "))
			r.run(t, newDocEnv(t), ex)
		})
	}
}

// docExamples returns the examples of --help, the README and docs/*.md,
// one per distinct text, in the order first shown.
func docExamples(t *testing.T) []docExample {
	t.Helper()
	var exs []docExample
	index := map[string]int{}
	add := func(where, line string) {
		argv, ok, err := exampleArgv(line)
		if err != nil {
			t.Errorf("%s: %q: %v", where, line, err)
			return
		}
		if !ok {
			return
		}
		if i, dup := index[line]; dup {
			exs[i].where = append(exs[i].where, where)
			return
		}
		index[line] = len(exs)
		exs = append(exs, docExample{where: []string{where}, text: line, argv: argv})
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, l := range joinContinued(strings.Split(c.Example, "\n")) {
			if l = cutComment(l); l != "" {
				add(c.CommandPath()+" --help", l)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(strings.NewReader(""), io.Discard, io.Discard))

	for _, file := range docFiles(t) {
		lines := strings.Split(readRepoFile(t, file), "\n")
		inSh := false
		var block []string
		var start int
		for i, l := range lines {
			switch {
			case !inSh && strings.TrimSpace(l) == "```sh":
				inSh, block, start = true, nil, i+2
			case inSh && strings.TrimSpace(l) == "```":
				inSh = false
				joined, at := joinContinuedAt(block)
				for j, b := range joined {
					if b = cutComment(promptRE.ReplaceAllString(b, "")); b != "" {
						add(fmt.Sprintf("%s:%d", file, start+at[j]), b)
					}
				}
			case inSh:
				block = append(block, l)
			}
		}
	}
	return exs
}

// docFiles are the hand-written pages whose examples users copy: the
// README and the pages of docs/ (not the generated reference under
// docs/cli, whose examples are the --help ones), as repository paths.
func docFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs/*.md pages: %v", err)
	}
	files := []string{"README.md"}
	for _, p := range pages {
		files = append(files, "docs/"+filepath.Base(p))
	}
	return files
}

// promptRE is the "hostB$ " a README line starts with to say where it runs.
var promptRE = regexp.MustCompile(`^[A-Za-z0-9-]+\$ `)

// joinContinued joins lines ending in a backslash with the next, and
// collapses the blanks between words.
func joinContinued(lines []string) []string {
	out, _ := joinContinuedAt(lines)
	return out
}

// joinContinuedAt is joinContinued that also returns the index of each
// joined line's first line.
func joinContinuedAt(lines []string) ([]string, []int) {
	var out []string
	var at []int
	cur, first := "", 0
	for i, l := range lines {
		if cur == "" {
			first = i
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " "), "\\"); ok {
			cur += s + " "
			continue
		}
		out = append(out, strings.Join(strings.Fields(cur+l), " "))
		at = append(at, first)
		cur = ""
	}
	return out, at
}

// cutComment cuts a shell comment: a whole-line one, or " # ..." after
// the command.
func cutComment(l string) string {
	l = strings.TrimSpace(l)
	if strings.HasPrefix(l, "#") {
		return ""
	}
	if i := strings.Index(l, " # "); i >= 0 {
		l = l[:i]
	}
	return strings.TrimSpace(l)
}

// cronFields matches a crontab line's five time fields.
var cronFields = regexp.MustCompile(`^(?:[0-9*,/-]+ ){5}`)

// commandRE finds zerocheck run as a command on a line.
var commandRE = regexp.MustCompile(`(^|[;|&]\s*)(zerocheck|go run \./cmd/zerocheck)\s`)

// exampleArgv finds the zerocheck command of a shell line (or of a
// crontab line): the words after "zerocheck" (or "go run ./cmd/zerocheck")
// up to the next operator. ok is false for a line without one.
func exampleArgv(line string) ([]string, bool, error) {
	l := cronFields.ReplaceAllString(line, "")
	// The crontab line's date: a subshell, which shellWords refuses.
	l = strings.ReplaceAll(l, `$(date +\%F)`, "DATE")
	words, err := shellWords(l)
	if err != nil {
		if !commandRE.MatchString(l) {
			return nil, false, nil // not a zerocheck line: a case arm, a loop
		}
		return nil, false, err
	}
	var seg [][]shellWord
	cur := []shellWord{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w.op && strings.ContainsAny(w.text, "<>"):
			i++ // a redirection and its target
		case w.op:
			seg, cur = append(seg, cur), []shellWord{}
		default:
			cur = append(cur, w)
		}
	}
	seg = append(seg, cur)
	var argv []string
	found := 0
	for _, s := range seg {
		var rest []shellWord
		switch {
		case len(s) > 0 && s[0].text == "zerocheck":
			rest = s[1:]
		case len(s) > 2 && s[0].text == "go" && s[1].text == "run" && s[2].text == "./cmd/zerocheck":
			rest = s[3:]
		default:
			continue
		}
		found++
		argv = nil
		for _, w := range rest {
			argv = append(argv, w.text)
		}
	}
	switch found {
	case 0:
		return nil, false, nil
	case 1:
		return argv, true, nil
	}
	return nil, false, fmt.Errorf("%d zerocheck commands on one line: show one a line", found)
}

// parseArgv parses a command line with a fresh command tree, as
// checkCommandLine does for the deploy files, short flags allowed.
func parseArgv(argv []string) error {
	root := newRoot(strings.NewReader(""), io.Discard, io.Discard)
	cmd, rest, err := root.Find(argv)
	if err != nil || cmd == root {
		return fmt.Errorf("not a zerocheck command: %v", err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

// docEnv is the stand-in world an example runs in: its files and the
// words that name them.
type docEnv struct {
	dir   string
	token string
	words map[string]string
}

func newDocEnv(t *testing.T) *docEnv {
	dir := t.TempDir()
	e := &docEnv{dir: dir, token: filepath.Join(dir, "token")}
	if err := os.WriteFile(e.token, []byte("a-token-of-at-least-16-bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.words = map[string]string{
		"/etc/zerocheck/token":       e.token,
		"/etc/zerocheck/peers":       filepath.Join(dir, "peers"),
		"/var/lib/zerocheck/reports": filepath.Join(dir, "reports"),
		"/var/lib/zerocheck/sweep":   filepath.Join(dir, "sweep"),
		"10.0.0.0/8":                 "127.0.0.0/8",
		"127.0.0.1:7778":             "127.0.0.1:0",
		":7778":                      "127.0.0.1:0",
		"10.0.0.2:7777":              "127.0.0.1:0",
		"eth0":                       "lo",
		"/var/tmp/sosreport-hostA":   filepath.Join(repoRoot, "hostinfo", "testdata", "hosts", "xen-pv-3.2-xen-4.1-ipsec"),
		"/srv/sosreport-hostA":       filepath.Join(repoRoot, "hostinfo", "testdata", "hosts", "xen-pv-3.2-xen-4.1-ipsec"),
		"/var/lib/node_exporter/textfile_collector/zerocheck-recv.prom": filepath.Join(dir, "recv.prom"),
	}
	return e
}

// apply substitutes and scales an example's words; more maps words of
// the example's own (its peers' addresses).
func (e *docEnv) apply(argv []string, more map[string]string) []string {
	var out []string
	for i := 0; i < len(argv); i++ {
		w := argv[i]
		if r, ok := more[w]; ok {
			w = r
		} else if r, ok := e.words[w]; ok {
			w = r
		}
		out = append(out, w)
		if i+1 < len(argv) {
			switch w {
			case "--bytes", "--inject", "--duration", "-t":
				out = append(out, scaleValue(w, argv[i+1]))
				i++
			}
		}
	}
	return out
}

// gibRE is a size of 1 GiB or more, as a spec writes it.
var gibRE = regexp.MustCompile(`([0-9.]+)(GiB|G)\b`)

// scaleValue scales a flag's value to what a test runs: GiB become MiB,
// long durations 1 s.
func scaleValue(flag, v string) string {
	switch flag {
	case "--duration", "-t":
		if d, err := units.ParseDuration(v); err == nil && d > 2*time.Second {
			return "1s"
		}
		return v
	}
	return gibRE.ReplaceAllString(v, "${1}MiB")
}

// timed adds -t 1 to a run that has neither --bytes nor --duration (10 s
// by default).
func timed(argv []string) []string {
	for _, w := range argv {
		if w == "--bytes" || w == "--duration" || w == "-t" {
			return argv
		}
	}
	return append(argv, "-t", "1")
}

// flagValue is the value of a flag in argv, or "".
func flagValue(argv []string, flag string) string {
	for i, w := range argv {
		if w == flag && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

// runBin runs the binary to its end with stdin and returns its exit code
// and outputs.
func runBin(t *testing.T, dir string, stdin io.Reader, argv ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, argv...)
	cmd.Dir, cmd.Stdin = dir, stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return exitCode(t, cmd.Run()), out.String(), errb.String()
}

// checkClaims checks a clean run's report against what its command line
// asks for: the pattern, the streams (twice as many with --bidir), the
// bytes.
func checkClaims(t *testing.T, argv []string, m map[string]any) {
	t.Helper()
	pat := flagValue(argv, "--pattern")
	if pat == "" {
		pat = "zeros"
	}
	streams := 1
	if s := flagValue(argv, "--streams"); s != "" {
		fmt.Sscan(s, &streams)
	}
	if slices.Contains(argv, "--bidir") {
		streams *= 2
	}
	if m["verdict"] != "clean" || m["pattern"] != pat || len(m["streams"].([]any)) != streams || num(t, m["bytes_verified"]) == 0 {
		t.Errorf("%v: verdict %v pattern %v streams %d bytes %v; want clean, %s, %d streams", argv, m["verdict"], m["pattern"], len(m["streams"].([]any)), m["bytes_verified"], pat, streams)
	}
	if b := flagValue(argv, "--bytes"); b != "" {
		n, _ := units.ParseSize(b)
		if got := num(t, m["bytes_verified"]); got != n {
			t.Errorf("%v: %d bytes verified, want %d", argv, got, n)
		}
	}
}

// ---- the runs ----

// recvLogRE is the listening line the README shows for "zerocheck recv".
var recvLogRE = regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=listening addr=127\.0\.0\.1:[0-9]+ token=false allow=\[\] version=\S+$`)

// tryRecvServes: recv serves run after run, one text report each, logs
// where it listens, and exits 0 when stopped.
func tryRecvServes(t *testing.T, e *docEnv, ex docExample) {
	r := start(t, true, append(e.apply(ex.argv, nil), "--listen", "127.0.0.1:0")...)
	for range 2 {
		if code, _, stderr := send(t, r.addr, "--bytes", "1MiB", "--no-hostinfo"); code != 0 {
			t.Fatalf("send: exit %d: %s", code, stderr)
		}
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	if !recvLogRE.MatchString(r.stderr()) {
		t.Errorf("no listening line like the README's:\n%s", r.stderr())
	}
	if n := strings.Count(r.out.String(), "zerocheck: CLEAN: 1048576 B (1.00 MiB) verified against pattern zeros, no corrupt bytes\n"); n != 2 {
		t.Errorf("%d clean reports, want 2:\n%s", n, r.out.String())
	}
}

// tryRecvOnceJSON: recv --once --json serves one run, prints its JSON
// report and exits with its code.
func tryRecvOnceJSON(t *testing.T, e *docEnv, ex docExample) {
	r := start(t, true, e.apply(ex.argv, nil)...)
	if code, _, stderr := send(t, r.addr, "--bytes", "1MiB", "--no-hostinfo"); code != 0 {
		t.Fatalf("send: exit %d: %s", code, stderr)
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	m := decodeJSON(t, r.out.String())
	if m["verdict"] != "clean" || m["role"] != "recv" || num(t, m["bytes_verified"]) != 1<<20 {
		t.Errorf("report %v %v %v", m["verdict"], m["role"], m["bytes_verified"])
	}
}

// tryRecvService: the receiver left running: a sender with the token is
// served and its report saved (and its metrics kept), one without is
// refused, /healthz answers 200 from a real session, and SIGTERM ends it
// with exit 0.
func tryRecvService(t *testing.T, e *docEnv, ex docExample) {
	argv := e.apply(ex.argv, nil)
	r := start(t, true, argv...)
	var health string
	for _, l := range strings.Split(r.errbufString(), "\n") {
		if a, ok := listenAddr(l, "health endpoint"); ok {
			health = a
		}
	}
	if health == "" {
		t.Fatalf("no health endpoint logged:\n%s", r.errbufString())
	}
	// The example's --allow became 127.0.0.0/8: dial that, not the
	// wildcard address recv listens on (which may dial ::1).
	_, port, _ := net.SplitHostPort(r.addr)
	addr := net.JoinHostPort("127.0.0.1", port)
	if code, _, stderr := send(t, addr, "--bytes", "1MiB", "--no-hostinfo", "--token-file", e.token); code != 0 {
		t.Fatalf("send with the token: exit %d: %s", code, stderr)
	}
	if code, m, _ := send(t, addr, "--bytes", "1MiB", "--no-hostinfo"); code != 3 || !strings.Contains(fmt.Sprint(m["error"]), "requires a token") {
		t.Errorf("send without the token: exit %d, %v", code, m["error"])
	}
	resp, err := http.Get("http://" + health + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"verdict":"clean"`) {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	files, _ := filepath.Glob(filepath.Join(flagValue(argv, "--report-dir"), "*_recv.json"))
	if len(files) != 1 {
		t.Errorf("%d recv reports in --report-dir, want 1", len(files))
	}
	if prom := flagValue(argv, "--prom-textfile"); prom != "" {
		if b, err := os.ReadFile(prom); err != nil || !strings.Contains(string(b), `zerocheck_runs_total{`) {
			t.Errorf("--prom-textfile: %v\n%s", err, b)
		}
	}
	// Every line of a JSON log is JSON.
	for _, l := range strings.Split(strings.TrimSpace(r.stderr()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("--log-format json wrote %q", l)
		}
	}
}

// tryRecvRaw: recv --raw verifies a plain stream (docs/usage.md feeds it
// head -c 1G /dev/zero | nc -N hostB 7777) and exits with its code.
func tryRecvRaw(t *testing.T, e *docEnv, ex docExample) {
	r := start(t, true, append(e.apply(ex.argv, nil), "--listen", "127.0.0.1:0")...)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(make([]byte, 1<<20))
	c.(*net.TCPConn).CloseWrite() // nc -N
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv --raw exit %d: %s", code, r.stderr())
	}
	c.Close()
	if got := firstLine(r.out.String()); got != "zerocheck: CLEAN: 1048576 B (1.00 MiB) verified against pattern zeros, no corrupt bytes" {
		t.Errorf("report: %q", got)
	}
}

// trySend: a run to a receiver is clean at both ends, with the pattern,
// streams and bytes asked for; with --json the report is JSON.
func trySend(t *testing.T, e *docEnv, ex docExample) {
	r := recvOnce(t)
	argv := timed(e.apply(ex.argv, map[string]string{"hostB": r.addr, "hostB:7777": r.addr}))
	p := start(t, false, argv...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("%v: exit %d: %s", argv, code, p.stderr())
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	checkClaims(t, argv, decodeJSON(t, r.out.String()))
	if slices.Contains(argv, "--json") {
		checkClaims(t, argv, decodeJSON(t, p.out.String()))
	} else if got := firstLine(p.out.String()); !strings.HasPrefix(got, "zerocheck: CLEAN: ") {
		t.Errorf("report: %q", got)
	}
}

// trySendPeers: a sweep over the peers file, with the token, a report
// each in --report-dir, and the summary line.
func trySendPeers(t *testing.T, e *docEnv, ex docExample) {
	var addrs []string
	for range 2 {
		r := start(t, true, "recv", "--listen", "127.0.0.1:0", "-q", "--no-hostinfo", "--token-file", e.token)
		addrs = append(addrs, r.addr)
	}
	argv := e.apply(ex.argv, nil)
	os.WriteFile(flagValue(argv, "--peers"), []byte("# two receivers\n"+strings.Join(addrs, "\n")+"\n"), 0o644)
	p := start(t, false, append(argv, "--no-hostinfo")...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr())
	}
	if got := p.stderr(); got != "zerocheck: sweep of 2 peers: 2 clean, 0 corrupt, 0 incomplete\n" {
		t.Errorf("stderr %q", got)
	}
	if files, _ := filepath.Glob(filepath.Join(flagValue(argv, "--report-dir"), "*_send.json")); len(files) != 2 {
		t.Errorf("%d reports in --report-dir, want 2", len(files))
	}
}

// ncListen plays "nc -l": it accepts one connection and hands over what
// arrives, whole.
func ncListen(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	return ln.Addr().String(), got
}

// trySendRaw: send --raw writes the bare pattern, exactly --bytes of it,
// to any listener (nc -l | xxd -a in docs/usage.md) and says what it sent.
func trySendRaw(t *testing.T, e *docEnv, ex docExample) {
	addr, got := ncListen(t)
	argv := e.apply(ex.argv, map[string]string{"hostB": addr, "127.0.0.1:8080": addr})
	code, _, stderr := runBin(t, "", nil, argv...)
	b := <-got
	n, _ := units.ParseSize(flagValue(argv, "--bytes"))
	if code != 0 || int64(len(b)) != n || !bytes.Equal(b, make([]byte, n)) {
		t.Fatalf("exit %d, %d bytes (want %d zeros): %s", code, len(b), n, stderr)
	}
	if want := fmt.Sprintf("zerocheck: sent %d bytes of pattern zeros to %s in ", n, addr); !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want %q...", stderr, want)
	}
}

// pipeVerify plays "nc -l PORT | zerocheck verify ARGS": what one
// connection brings is verify's stdin.
func pipeVerify(t *testing.T, argv ...string) (string, *proc) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, argv...)
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startCmd(t, cmd, false)
	go func() {
		defer ln.Close()
		defer w.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(w, c)
		c.Close()
	}()
	return ln.Addr().String(), p
}

// genTo plays "zerocheck gen ARGS | nc -N ADDR": gen's stdout goes to a
// connection to addr.
func genTo(t *testing.T, addr string, argv ...string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, argv...)
	cmd.Stdout = c
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	c.(*net.TCPConn).CloseWrite()
	c.Close()
	code := exitCode(t, err)
	if code != 0 {
		t.Errorf("%v: exit %d: %s", argv, code, errb.String())
	}
	return code
}

// tryVerifyFromNC: nc -l 8080 | zerocheck verify --pattern zeros, fed
// by docs/usage.md's sender (gen | nc -N), reports clean.
func tryVerifyFromNC(t *testing.T, e *docEnv, ex docExample) {
	addr, v := pipeVerify(t, e.apply(ex.argv, nil)...)
	genTo(t, addr, "gen", "--pattern", "zeros", "--bytes", "10MiB")
	if code := v.wait(t); code != 0 {
		t.Fatalf("verify exit %d: %s", code, v.stderr())
	}
	if got := firstLine(v.out.String()); got != "zerocheck: CLEAN: 10485760 B (10.00 MiB) verified against pattern zeros, no corrupt bytes" {
		t.Errorf("report: %q", got)
	}
}

// tryGenToNC: gen | nc -N hostB 8080 delivers exactly --bytes of the
// pattern, which docs/usage.md's receiver (nc -l | verify) finds clean.
func tryGenToNC(t *testing.T, e *docEnv, ex docExample) {
	argv := e.apply(ex.argv, nil)
	addr, v := pipeVerify(t, "verify", "--pattern", "zeros")
	genTo(t, addr, argv...)
	if code := v.wait(t); code != 0 {
		t.Fatalf("verify exit %d: %s", code, v.stderr())
	}
	n, _ := units.ParseSize(flagValue(argv, "--bytes"))
	if want := fmt.Sprintf("zerocheck: CLEAN: %d B ", n); !strings.HasPrefix(firstLine(v.out.String()), want) {
		t.Errorf("report %q, want %q...", firstLine(v.out.String()), want)
	}
}

// tryGenCounter: gen --pattern counter --offset 4096 writes the counter
// words from 4096 on, --bytes of them (xxd | head shows the first).
func tryGenCounter(t *testing.T, e *docEnv, ex docExample) {
	code, out, stderr := runBin(t, "", nil, e.apply(ex.argv, nil)...)
	if code != 0 || len(out) != 64<<10 {
		t.Fatalf("exit %d, %d bytes: %s", code, len(out), stderr)
	}
	for i := 0; i < len(out); i += 8 {
		if w := binary.LittleEndian.Uint64([]byte(out[i : i+8])); w != uint64(4096+i) {
			t.Fatalf("word at %d holds %d, want %d", i, w, 4096+i)
		}
	}
}

// tryVerifyFile: verify --bytes N --json FILE of a capture of the
// pattern, exactly N bytes: clean, N bytes verified.
func tryVerifyFile(t *testing.T, e *docEnv, ex docExample) {
	argv := e.apply(ex.argv, nil)
	n, _ := units.ParseSize(flagValue(argv, "--bytes"))
	code, capture, _ := runBin(t, "", nil, "gen", "--pattern", "counter", "--bytes", fmt.Sprint(n))
	if code != 0 {
		t.Fatalf("gen exit %d", code)
	}
	os.WriteFile(filepath.Join(e.dir, "capture.bin"), []byte(capture), 0o644)
	code, out, stderr := runBin(t, e.dir, nil, argv...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if m := decodeJSON(t, out); m["verdict"] != "clean" || num(t, m["bytes_verified"]) != n || m["pattern"] != "counter" {
		t.Errorf("report %v %v %v", m["verdict"], m["bytes_verified"], m["pattern"])
	}
}

// tryLoopback: the self-test is clean, with what the flags ask for.
func tryLoopback(t *testing.T, e *docEnv, ex docExample) {
	argv := timed(e.apply(ex.argv, nil))
	code, out, stderr := runBin(t, "", nil, append(argv, "--json")...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", argv, code, stderr)
	}
	checkClaims(t, argv, decodeJSON(t, out))
}

// The drill of docs/usage.md and relay --help: the relay and the sender.
const (
	drillRelay = "zerocheck relay --listen :7778 --to hostB:7777 --inject block@1GiB:5,bitflip%10GiB"
	drillSend  = "zerocheck send hostR:7778 --duration 5m; echo \"exit $?\""
)

// tryRelayDrill: a sender through the relay gets exit 1, with a block
// region of 5 blocks where the drill put it and the bit flips after it.
func tryRelayDrill(t *testing.T, e *docEnv, _ docExample) {
	r := recvOnce(t)
	relayArgv, _, _ := exampleArgv(drillRelay)
	rl := start(t, true, e.apply(relayArgv, map[string]string{"hostB:7777": r.addr})...)
	sendArgv, _, _ := exampleArgv(drillSend)
	argv := e.apply(sendArgv, map[string]string{"hostR:7778": rl.addr})
	code, m, stderr := send(t, argv[1:]...)
	if code != 1 || r.wait(t) != 1 || m["verdict"] != "corrupt" {
		t.Fatalf("%v: exit %d, recv exit %d, verdict %v: %s", argv, code, r.wait(t), m["verdict"], stderr)
	}
	regions := m["regions"].([]any)
	first := regions[0].(map[string]any)
	if num(t, first["offset"]) != 1<<20 || first["kind"] != "block" || num(t, first["blocks"]) != 5 || num(t, first["length"]) != 80 {
		t.Errorf("first region %v, want the 5-block block region at 1MiB", first)
	}
	var flips int
	for _, g := range regions[1:] {
		if g.(map[string]any)["kind"] == "bitflip" {
			flips++
		}
	}
	if flips == 0 {
		t.Errorf("no bitflip region after the block: %v", regions)
	}
}

// tryRelayRawDrill: relay --raw between "zerocheck gen | nc relay 7778"
// and "nc -l 7777 | zerocheck verify" (the example's own comment) must
// fire: verify finds corruption, exit 1.
func tryRelayRawDrill(t *testing.T, e *docEnv, ex docExample) {
	addr, v := pipeVerify(t, "verify", "--pattern", "zeros")
	argv := e.apply(ex.argv, nil)
	for i, w := range argv[:len(argv)-1] {
		switch w {
		case "--to":
			argv[i+1] = addr
		case "--listen":
			argv[i+1] = "127.0.0.1:0"
		}
	}
	rl := start(t, true, argv...)
	// Past every offset the example's spec may name in MiB once scaled.
	genTo(t, rl.addr, "gen", "--pattern", "zeros", "--bytes", "16MiB")
	if code := v.wait(t); code != 1 {
		t.Errorf("verify exit %d, want 1 (the drill fired):\n%s", code, firstLine(v.out.String()))
	}
}

// tryHostinfo: the host facts, of this host (on its loopback for eth0)
// or of a copied tree, whose Xen PV guest matches the incident's risk.
func tryHostinfo(t *testing.T, e *docEnv, ex docExample) {
	argv := e.apply(ex.argv, nil)
	code, out, stderr := runBin(t, "", nil, argv...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", argv, code, stderr)
	}
	switch {
	case slices.Contains(argv, "--json"):
		if m := decodeJSON(t, out); m["kernel"] == nil {
			t.Errorf("JSON without kernel: %s", out)
		}
	case slices.Contains(argv, "--root"):
		if !regexp.MustCompile(`\| MATCH +\| critical +\| local +\| xen-pv-aesni `).MatchString(out) {
			t.Errorf("the copied Xen PV guest does not match xen-pv-aesni:\n%s", out)
		}
	default:
		if !strings.Contains(out, "kernel") {
			t.Errorf("no kernel fact:\n%s", out)
		}
	}
}

// tryAnalyze: the reports of two runs, kept as docs/analyze.md and deploy/
// keep them (the sweep's on hostA, the receiver's on hostB), gathered and
// analysed: two clean runs between the pair.
func tryAnalyze(t *testing.T, e *docEnv, ex docExample) {
	reports := filepath.Join(e.dir, "reports")
	sweep, recvd := filepath.Join(reports, "hostA", "sweep"), filepath.Join(reports, "hostB", "reports")
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "-q", "--report-dir", recvd)
	for range 2 {
		if code, _, stderr := send(t, r.addr, "--bytes", "1MiB", "--report-dir", sweep); code != 0 {
			t.Fatalf("send exit %d: %s", code, stderr)
		}
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.wait(t)
	argv := e.apply(ex.argv, map[string]string{"/var/lib/zerocheck/reports": recvd, "/var/lib/zerocheck/sweep": sweep})
	// --help's example runs where the hosts' trees were gathered, the
	// docs' one directory up.
	cwd := e.dir
	if slices.ContainsFunc(argv, func(w string) bool { return strings.HasPrefix(w, "hostA/") }) {
		cwd = reports
	}
	// The shell's glob, done here.
	var expanded []string
	for _, w := range argv {
		if m, _ := filepath.Glob(filepath.Join(cwd, w)); strings.Contains(w, "*") && len(m) > 0 {
			for _, f := range m {
				rel, _ := filepath.Rel(cwd, f)
				expanded = append(expanded, rel)
			}
			continue
		}
		expanded = append(expanded, w)
	}
	code, out, stderr := runBin(t, cwd, nil, expanded...)
	if code != 0 || stderr != "" {
		t.Fatalf("%v: exit %d: %s", expanded, code, stderr)
	}
	if slices.Contains(argv, "--json") {
		m := decodeJSON(t, out)
		if num(t, m["runs"]) != 2 || num(t, m["clean"]) != 2 || len(m["facts"].([]any)) == 0 {
			t.Errorf("analysis: runs %v clean %v facts %d", m["runs"], m["clean"], len(m["facts"].([]any)))
		}
		return
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(strings.ReplaceAll(sc.Text(), "|", " ")); len(f) > 3 && f[2] == "2" && f[3] == "2" {
			return // a pair row: 2 runs, 2 clean
		}
	}
	t.Errorf("no pair row with 2 runs, 2 clean:\n%s", out)
}

// TestDocAlertSnippet runs docs/deploy.md's crontab line and its
// zerocheck-alert script as cron would (sh), against a receiver behind a
// corrupting relay (exit 1: page, with the first region) and against no
// receiver (exit 3: warn, with the error): each code reaches the alert
// with the report's own words, from the report file the line names.
func TestDocAlertSnippet(t *testing.T) {
	var ex docExample
	for _, x := range docExamples(t) {
		if cronFields.MatchString(x.text) {
			ex = x
		}
	}
	if ex.text == "" {
		t.Fatal("no crontab line among the docs' examples")
	}
	e := newDocEnv(t)
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("the alert script needs jq")
	}
	script := docBlock(t, "docs/deploy.md", "# zerocheck-alert CODE REPORT: what each exit code means (page and warn are yours)")
	binDir := filepath.Join(e.dir, "bin")
	os.MkdirAll(binDir, 0o755)
	for name, body := range map[string]string{
		"zerocheck":       "#!/bin/sh\nexec " + bin + " \"$@\"\n",
		"zerocheck-alert": "#!/bin/sh\n" + script,
		"page":            "#!/bin/sh\necho \"page: $*\"\n",
		"warn":            "#!/bin/sh\necho \"warn: $*\"\n",
	} {
		os.WriteFile(filepath.Join(binDir, name), []byte(body), 0o755)
	}
	sweep := filepath.Join(e.dir, "sweep")
	os.MkdirAll(sweep, 0o755)
	line := cronFields.ReplaceAllString(ex.text, "")
	line = strings.ReplaceAll(line, `\%`, "%") // cron's escape
	line = strings.ReplaceAll(line, "/var/lib/zerocheck/sweep", sweep)
	line = strings.ReplaceAll(line, "/usr/local/bin/zerocheck-alert", filepath.Join(binDir, "zerocheck-alert"))
	line = strings.ReplaceAll(line, "--duration 5m", "--duration 1s")

	r := recvOnce(t)
	rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", "block@4096:2")
	for _, tc := range []struct {
		peer string
		want *regexp.Regexp
	}{
		{rl.addr, regexp.MustCompile(`^page: corruption: \{"index":1,"stream":0,"offset":4096,"length":32,.*"blocks":2,.*"kind":"block",.*\}\n$`)},
		{"127.0.0.1:" + freePort(t), regexp.MustCompile(`^warn: zerocheck could not complete: .*connection refused.*\n$`)},
	} {
		cmd := exec.Command("sh", "-c", strings.Replace(line, "hostB", tc.peer, 1))
		cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
		out, err := cmd.Output() // what the alert says; cron mails stderr too
		if err != nil || !tc.want.Match(out) {
			t.Errorf("%s: %v, output %q; want %v\n%s", tc.peer, err, out, tc.want, cmd.Args[2])
		}
	}
}

// docBlock returns the sh code block of file whose first line is first.
func docBlock(t *testing.T, file, first string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readRepoFile(t, file), "```sh\n"+first+"\n")
	if !ok {
		t.Fatalf("%s has no block starting %q", file, first)
	}
	block, _, _ := strings.Cut(rest, "```")
	return first + "\n" + block
}

// inlineRE is a zerocheck command in a code span of the docs.
var inlineRE = regexp.MustCompile("`(zerocheck [^`]+)`")

// flagRE is a long flag as the docs write it in a span.
var flagRE = regexp.MustCompile(`(?:^|[\s\[(])--([a-z][a-z0-9-]*)`)

// TestDocInlineFlags: the commands the README and docs/*.md name in
// running text and tables (`zerocheck recv [--listen ADDR] ...`,
// `zerocheck loopback --bytes 4GiB`) are too short or too schematic to
// run, but every flag they name must be a flag of that command, so that a
// renamed flag fails here and not in a reader's shell.
func TestDocInlineFlags(t *testing.T) {
	root := newRoot(strings.NewReader(""), io.Discard, io.Discard)
	spans := 0
	for _, file := range docFiles(t) {
		inFence := false
		for i, l := range strings.Split(readRepoFile(t, file), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				inFence = !inFence
				continue
			}
			if inFence {
				continue
			}
			for _, m := range inlineRE.FindAllStringSubmatch(l, -1) {
				words := strings.Fields(m[1])
				if len(words) < 2 {
					continue
				}
				cmd, _, err := root.Find(words[1:2])
				if err != nil || cmd == root {
					continue // `zerocheck --version`, a name in prose
				}
				spans++
				for _, f := range flagRE.FindAllStringSubmatch(m[1], -1) {
					if cmd.Flags().Lookup(f[1]) == nil && cmd.InheritedFlags().Lookup(f[1]) == nil {
						t.Errorf("%s:%d: `%s`: %s has no flag --%s", file, i+1, m[1], cmd.CommandPath(), f[1])
					}
				}
			}
		}
	}
	if spans < 10 {
		t.Errorf("only %d zerocheck commands found in the docs' code spans: is the reader broken?", spans)
	}
}
