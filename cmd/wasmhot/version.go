package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

const wazeroPath = "github.com/tetratelabs/wazero"

// buildVersions says what this binary is, from its build information: the
// wasmhot module's version ("(devel)" when built from a checkout, the tag
// with go install ...@vX), the Go that built it, wazero's version, and
// the VCS revision when the build recorded one.
type buildVersions struct {
	wasmhot, goVersion, wazero, revision string
	modified                             bool
}

func readVersions() buildVersions {
	v := buildVersions{wasmhot: "unknown", goVersion: runtime.Version(), wazero: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.wasmhot = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.goVersion = bi.GoVersion
	}
	for _, d := range bi.Deps {
		if d.Path != wazeroPath {
			continue
		}
		v.wazero = d.Version
		if d.Replace != nil {
			v.wazero = d.Replace.Version + " (replaced by " + d.Replace.Path + ")"
			if d.Replace.Version == "" {
				v.wazero = "(replaced by " + d.Replace.Path + ")"
			}
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

// print writes the versions, one "NAME VERSION" per line.
func (v buildVersions) print(w io.Writer) {
	fmt.Fprintf(w, "wasmhot %s\n", v.wasmhot)
	if v.revision != "" {
		dirty := ""
		if v.modified {
			dirty = " (modified)"
		}
		fmt.Fprintf(w, "revision %s%s\n", v.revision, dirty)
	}
	fmt.Fprintf(w, "go %s\n", v.goVersion)
	fmt.Fprintf(w, "wazero %s\n", v.wazero)
}

func init() {
	// --version prints what `wasmhot version` prints; no -v alias, which
	// commands use for --verbose.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the versions of wasmhot, Go and wazero", DisableDefaultText: true}
	cli.VersionPrinter = func(c *cli.Context) { readVersions().print(c.App.Writer) }
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the versions of wasmhot, of the Go that built it and of wazero",
		Description: "Reads them from the binary's build information: wasmhot's module version\n" +
			"is \"(devel)\" when built from a checkout, the tag when installed with\n" +
			"go install github.com/wasmhot/wasmhot/cmd/wasmhot@VERSION. The same as\n" +
			"wasmhot --version.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot version",
		Action: func(c *cli.Context) error {
			if _, err := exactArgs(c, 0); err != nil {
				return err
			}
			readVersions().print(c.App.Writer)
			return nil
		},
	}
}
