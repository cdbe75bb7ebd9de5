package analyze

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/zerocheck/zerocheck/report"
)

// valueWidth wraps long fact values (CPU models, offload lists, crypto
// drivers) so that the fact table fits a terminal.
const valueWidth = 36

// Text writes a for a person: a headline of counts, the pair matrix, and
// the top rows of the fact table (top <= 0: all of them). Uniform facts
// are listed under the table instead of taking rows.
func Text(w io.Writer, a Analysis, top int) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "zerocheck analyze: %s, %s, %s (%d corrupt, %d clean, %d incomplete), %s\n",
		count(a.Files, "file"), count(a.Reports, "report"), count(a.Runs, "run"),
		a.Corrupt, a.Clean, a.Incomplete, count(len(a.Skipped), "warning"))

	b.WriteString("\nPairs (sender -> receiver), most corrupt runs first\n")
	var rows [][]string
	for _, p := range a.Pairs {
		rows = append(rows, []string{name(p.Sender), name(p.Receiver), strconv.Itoa(p.Runs), strconv.Itoa(p.Clean),
			strconv.Itoa(p.Corrupt), strconv.Itoa(p.Incomplete), report.SizeText(p.BytesVerified),
			strconv.FormatInt(p.CorruptBytes, 10), strconv.FormatInt(p.Regions, 10)})
	}
	if err := report.WrapTable(&b, []string{"sender", "receiver", "runs", "clean", "corrupt", "incomplete",
		"bytes verified", "corrupt bytes", "regions"}, rows, 0); err != nil {
		return err
	}
	reverse := 0
	for _, p := range a.Pairs {
		reverse += p.ReverseRuns
	}
	if reverse > 0 {
		fmt.Fprintf(&b, "A --bidir run counts in both directions its data flowed: the host that ran send -> the one\n"+
			"that ran recv for its forward streams, and back for its reverse ones (%s of the rows').\n", count(reverse, "run"))
	}

	rated := a.Clean + a.Corrupt
	fmt.Fprintf(&b, "\nFacts, by how well they separate corrupt runs from clean ones\n(%s; a run has a value when either of its hosts has it)\n",
		count(rated, "clean or corrupt run"))
	if rated > 0 && (a.Clean == 0 || a.Corrupt == 0) {
		// Every rate is then 0 or 1 and every separation 0: say why, so
		// that a quiet night does not read as facts that do not matter.
		all := "clean"
		if a.Clean == 0 {
			all = "corrupt"
		}
		fmt.Fprintf(&b, "Every one of them is %s: a fact can only separate corrupt runs from clean ones when there are both.\n", all)
	}
	var uniform []string
	rows = nil
	more := 0
	for _, f := range a.Facts {
		switch {
		case f.Uniform:
			uniform = append(uniform, report.Printable(f.Path+" = "+f.Value))
		case top > 0 && len(rows) >= top:
			more++
		default:
			rows = append(rows, []string{report.Printable(f.Path), report.Printable(f.Value), strconv.Itoa(f.Runs),
				strconv.Itoa(f.Corrupt), percent(f.Rate), othersText(f), fmt.Sprintf("%+.1f", 100*f.Separation),
				strconv.Itoa(f.CorruptAsSender), strconv.Itoa(f.CorruptAsReceiver)})
		}
	}
	switch {
	case len(rows) > 0:
		if err := report.WrapTable(&b, []string{"fact", "value", "runs", "corrupt", "rate", "others", "separation",
			"as sender", "as receiver"}, rows, valueWidth); err != nil {
			return err
		}
	case rated == 0:
		b.WriteString("No run to compare: incomplete runs say nothing about corruption.\n")
	case len(a.Facts) == 0:
		b.WriteString("No host facts in these reports (written with --no-hostinfo?).\n")
	default:
		b.WriteString("No fact has more than one value across these runs.\n")
	}
	if more > 0 {
		fmt.Fprintf(&b, "... and %s, left out of this table (--top 0 shows all, --json has them)\n", count(more, "more row"))
	}
	if len(rows) > 0 {
		b.WriteString("rate: corrupt runs / runs with the value; others: the same for runs without it;\n" +
			"separation: rate - others, in percentage points (+100: on every corrupt run and on no clean one);\n" +
			"as sender, as receiver: corrupt runs with the value on that end.\n")
	}
	if len(uniform) > 0 {
		b.WriteString("Left out, one value on every host (they separate nothing):\n")
		for _, u := range uniform {
			b.WriteString("  " + u + "\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// JSON writes a as one indented JSON object followed by a newline.
func JSON(w io.Writer, a Analysis) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	if err := e.Encode(a); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

func othersText(f Fact) string {
	if f.RateOthers == nil {
		return "-"
	}
	return percent(*f.RateOthers)
}

func percent(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// name shows a host the reports could not name (verify has no sender).
func name(s string) string { return report.Printable(cmp.Or(s, "-")) }

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
