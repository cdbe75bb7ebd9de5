package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, c := range []struct {
		name    string
		stamped string
		rev     string
		bi      *debug.BuildInfo
		want    string
	}{
		{"no build info", "", "", nil, "(devel)"},
		{"stamped by -ldflags", "v1.2.3", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v1.2.3"},
		{"go install of a tag", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0"},
		{"go build without VCS", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
		{"go build with VCS", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "false")}, "(devel) (0123456789ab)"},
		{"modified tree", "v1.2.3", "", &debug.BuildInfo{Settings: settings("vcs.revision", rev, "vcs.modified", "true")}, "v1.2.3 (0123456789ab-dirty)"},
		{"pseudo-version names its revision", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203080000-0123456789ab+dirty"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true")}, "v0.0.0-20261203080000-0123456789ab+dirty"},
	} {
		if got := versionOf(c.stamped, c.rev, c.bi); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
