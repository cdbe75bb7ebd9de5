// Package docs holds the tests of the repository's documentation: every
// link in README.md, docs/ and deploy/ resolves inside the repository, and
// none leaves it (a clone, or a host the deploy files are copied to, has
// nothing else).
package docs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository's root, from this package's directory.
const repoRoot = "../.."

// docFiles returns the files whose links are checked, as slash paths from
// the repository root: README.md, docs/**/*.md and everything in deploy/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	for _, dir := range []string{"docs", "deploy"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(repoRoot, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if dir == "deploy" || strings.HasSuffix(rel, ".md") {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// link is a link target found in a file, and the line it is on.
type link struct {
	line   int
	target string
}

var (
	// inlineLinkRE is [text](target) or [text](target "title"), images too.
	inlineLinkRE = regexp.MustCompile(`\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	// refLinkRE is a reference definition: [name]: target.
	refLinkRE = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	// urlRE is a URL GitHub would make a link of, autolinked or bare.
	urlRE = regexp.MustCompile(`(?i)\b(?:https?|ftp)://[^\s<>)"']+|\bwww\.[a-z0-9-]+\.[a-z]`)
	// schemeRE starts a target that names its own scheme: outside the repository.
	schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// markdownLinks returns the link targets of a Markdown text, outside code
// blocks and code spans, and every URL in its prose.
func markdownLinks(text string) []link {
	var links []link
	fence := ""
	for i, l := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(l)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		if strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t") {
			continue // an indented code block (or a list's continuation: no links there today)
		}
		l = stripCodeSpans(l)
		for _, m := range inlineLinkRE.FindAllStringSubmatch(l, -1) {
			links = append(links, link{i + 1, m[1]})
		}
		if m := refLinkRE.FindStringSubmatch(l); m != nil {
			links = append(links, link{i + 1, m[1]})
		}
		for _, u := range urlRE.FindAllString(l, -1) {
			if !slices.ContainsFunc(links, func(k link) bool { return k.line == i+1 && k.target == u }) {
				links = append(links, link{i + 1, u})
			}
		}
	}
	return links
}

// stripCodeSpans drops a line's code spans, whose text is not markup: a
// run of backticks up to the next run of as many.
func stripCodeSpans(l string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(l, '`')
		if i < 0 {
			return b.String() + l
		}
		n := i
		for n < len(l) && l[n] == '`' {
			n++
		}
		ticks := l[i:n]
		end := -1
		for j := n; j < len(l); {
			k := strings.Index(l[j:], ticks)
			if k < 0 {
				break
			}
			k += j
			if k+len(ticks) == len(l) || l[k+len(ticks)] != '`' {
				end = k + len(ticks)
				break
			}
			for k < len(l) && l[k] == '`' {
				k++
			}
			j = k
		}
		if end < 0 { // no closing run: the backticks are text
			b.WriteString(l[:n])
			l = l[n:]
			continue
		}
		b.WriteString(l[:i])
		l = l[end:]
	}
}

// headingRE is an ATX heading.
var headingRE = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)

// anchors returns the anchors GitHub gives a Markdown file's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := ""
	for _, l := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(l)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		m := headingRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		a := anchor(m[2])
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// anchor is GitHub's anchor of a heading's text: lower case, markup and
// punctuation dropped (letters, digits, spaces, hyphens and underscores
// stay), each space a hyphen. A repeated heading gets -1, -2, ... (anchors
// does that).
func anchor(heading string) string {
	// A link in a heading counts by its text.
	heading = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// TestAnchor pins the anchor rules to headings whose GitHub anchors are
// known, this repository's awkward ones among them.
func TestAnchor(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"Exit codes", "exit-codes"},
		{"Fire drill: `zerocheck relay`", "fire-drill-zerocheck-relay"},
		{"A drop-in for `nc | xxd -a`", "a-drop-in-for-nc--xxd--a"},
		{"Raw mode: nc on either end", "raw-mode-nc-on-either-end"},
		{"Exit codes under a timer, cron or a CronJob", "exit-codes-under-a-timer-cron-or-a-cronjob"},
		{"zerocheck_send", "zerocheck_send"},
		{"What broke", "what-broke"},
		{"Über 3.0+ (AES-NI)", "über-30-aes-ni"},
	} {
		if got := anchor(tc.heading); got != tc.want {
			t.Errorf("anchor(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
	got := anchors("# A\n## A\n```\n# not a heading\n```\n### A\n")
	for _, want := range []string{"a", "a-1", "a-2"} {
		if !got[want] {
			t.Errorf("anchors of three headings 'A': %v, want %q", got, want)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block taken for a heading")
	}
}

// checkTarget resolves a link target of file: nil when it names a file of
// the repository (and, with #anchor, a heading of that file).
func checkTarget(t *testing.T, file, target string) error {
	if target == "" {
		return fmt.Errorf("empty link")
	}
	if loopbackURL(target) {
		return nil // this host's own endpoint, such as the health check
	}
	if schemeRE.MatchString(target) || strings.HasPrefix(target, "//") || strings.HasPrefix(strings.ToLower(target), "www.") {
		return fmt.Errorf("%s points outside the repository: cite it in words (e.g. \"Go issue 35777\")", target)
	}
	p, frag, _ := strings.Cut(target, "#")
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%s: an absolute path, which no clone has: make it relative", target)
	}
	resolved := file
	if p != "" {
		resolved = path.Clean(path.Join(path.Dir(file), p))
		if resolved == ".." || strings.HasPrefix(resolved, "../") {
			return fmt.Errorf("%s leaves the repository", target)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(resolved))); err != nil {
			return fmt.Errorf("%s: no such file in the repository (%s)", target, resolved)
		}
	}
	if frag == "" {
		return nil
	}
	if !strings.HasSuffix(resolved, ".md") {
		return fmt.Errorf("%s: an anchor into %s, which has no headings", target, resolved)
	}
	if !anchors(readFile(t, resolved))[frag] {
		return fmt.Errorf("%s: %s has no heading with anchor #%s", target, resolved, frag)
	}
	return nil
}

// repoPathRE is a path into the repository named in a deploy file's
// comments (docs/deploy.md, deploy/systemd/zerocheck-sweep.timer).
var repoPathRE = regexp.MustCompile(`(?:^|[\s"'(])((?:docs|deploy)/[A-Za-z0-9_./-]*[A-Za-z0-9_])`)

// loopbackURL reports whether u is a URL of the host it is used on
// (http://127.0.0.1:7778/healthz): no site, inside or outside.
func loopbackURL(u string) bool {
	for _, prefix := range []string{"http://127.0.0.1", "http://localhost", "http://[::1]"} {
		if rest, ok := strings.CutPrefix(u, prefix); ok && (rest == "" || strings.ContainsAny(rest[:1], ":/")) {
			return true
		}
	}
	return false
}

// ownSource is the project's own repository address, which the image's
// org.opencontainers.image.source label must give as a URL.
const ownSource = "https://github.com/zerocheck/zerocheck"

// TestLinksResolveInsideRepo: every link of README.md and docs/**/*.md
// names a file of this repository (and a heading in it when it has an
// anchor), with a relative path that stays inside it; no file there or in
// deploy/ links to an outside site; and every repository path a deploy
// file names exists.
func TestLinksResolveInsideRepo(t *testing.T) {
	files := docFiles(t)
	if len(files) < 10 {
		t.Fatalf("only %d files to check: %v", len(files), files)
	}
	checked := 0
	for _, file := range files {
		text := readFile(t, file)
		if strings.HasSuffix(file, ".md") {
			for _, l := range markdownLinks(text) {
				checked++
				if err := checkTarget(t, file, l.target); err != nil {
					t.Errorf("%s:%d: %v", file, l.line, err)
				}
			}
			continue
		}
		for i, line := range strings.Split(text, "\n") {
			for _, u := range urlRE.FindAllString(line, -1) {
				if strings.Contains(line, "org.opencontainers.image.source") && u == ownSource || loopbackURL(u) {
					continue
				}
				t.Errorf("%s:%d: %s points outside the repository: name the docs page or man page instead", file, i+1, u)
			}
			for _, m := range repoPathRE.FindAllStringSubmatch(line, -1) {
				p := strings.TrimSuffix(m[1], ".")
				if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(p))); err != nil {
					t.Errorf("%s:%d: names %s, which is not in the repository", file, i+1, p)
				}
			}
		}
	}
	if checked < 30 {
		t.Errorf("only %d links found: is the reader broken?", checked)
	}
}

// TestLinkReader: the reader finds links and URLs where GitHub makes them,
// and not in code.
func TestLinkReader(t *testing.T) {
	text := "See [usage](docs/usage.md#raw-mode) and [x](a.md \"title\"), `[no](code.md)`,\n" +
		"https://example.com/x and <https://example.org>.\n" +
		"[ref]: docs/deploy.md\n" +
		"```sh\ncurl http://127.0.0.1:7778/healthz [no](code.md)\n```\n"
	var got []string
	for _, l := range markdownLinks(text) {
		got = append(got, fmt.Sprintf("%d:%s", l.line, l.target))
	}
	want := []string{"1:docs/usage.md#raw-mode", "1:a.md", "2:https://example.com/x", "2:https://example.org", "3:docs/deploy.md"}
	if !slices.Equal(got, want) {
		t.Errorf("links %q, want %q", got, want)
	}
}

// TestCheckTarget: what a link may and may not point at, from README.md.
func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"docs/usage.md", true},
		{"docs/usage.md#raw-mode-nc-on-either-end", true},
		{"#exit-codes", true},
		{"docs/man/", true},
		{"docs/usage.md#no-such-heading", false},
		{"#no-such-heading", false},
		{"docs/nothing.md", false},
		{"../shared/reference/poison-packet.md", false},
		{"/etc/zerocheck/token", false},
		{"https://github.com/golang/go/issues/35777", false},
		{"mailto:dev@zerocheck.invalid", false},
		{"http://127.0.0.1:7778/healthz", true},
	} {
		if err := checkTarget(t, "README.md", tc.target); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.target, err, tc.ok)
		}
	}
}

// readmeMaxLines is the README's limit: a front door (what and why,
// install, a two-host example, exit codes, an index), the manual being in
// docs/.
const readmeMaxLines = 300

// TestREADMEIsAFrontDoor: the README stays within its limit, and indexes
// every page of docs/.
func TestREADMEIsAFrontDoor(t *testing.T) {
	readme := readFile(t, "README.md")
	if n := strings.Count(readme, "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move the detail to a page of docs/", n, readmeMaxLines)
	}
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	for _, p := range pages {
		if link := "](docs/" + filepath.Base(p) + ")"; !strings.Contains(readme, link) {
			t.Errorf("README.md does not index docs/%s", filepath.Base(p))
		}
	}
}

// TestDocsPagesOpenWithWhatTheyCover: each page of docs/ opens with its
// title and then a paragraph saying what it covers, before any section.
func TestDocsPagesOpenWithWhatTheyCover(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	for _, p := range pages {
		name := "docs/" + filepath.Base(p)
		lines := strings.Split(readFile(t, name), "\n")
		if len(lines) < 3 || !strings.HasPrefix(lines[0], "# ") || lines[1] != "" {
			t.Errorf("%s: does not open with a '# Title' line and a blank line", name)
			continue
		}
		first := lines[2]
		if first == "" || strings.HasPrefix(first, "#") || strings.HasPrefix(first, "```") ||
			strings.HasPrefix(first, "|") || strings.HasPrefix(first, "- ") {
			t.Errorf("%s: the title is not followed by a paragraph saying what the page covers: %q", name, first)
		}
	}
}
