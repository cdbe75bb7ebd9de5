package main

import (
	"runtime/debug"
	"strings"
)

// version and revision are set at build time with -ldflags "-X
// main.version=... -X main.revision=..." where the build cannot record
// them itself (the Dockerfile does, from its VERSION and REVISION
// arguments: its build context leaves .git out); when empty, the build
// info's module version and VCS revision are used.
var version, revision = "", ""

// versionString says which build this is: the module version (a tag for
// go install, a pseudo-version for a go build in a checkout) and, when
// the build recorded them, the VCS revision and whether the tree was
// modified. A build with neither says "(devel)" rather than inventing a
// version, so that a report never names a release it did not come from.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(version, revision, bi)
}

// versionOf is versionString on given inputs, for tests.
func versionOf(stamped, stampedRev string, bi *debug.BuildInfo) string {
	v, rev := stamped, stampedRev
	var modified string
	if bi != nil {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if rev == "" {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if strings.Contains(v, rev) {
		// A pseudo-version already names its revision.
		return v
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return v + " (" + rev + ")"
}
