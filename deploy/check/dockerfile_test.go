package check

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestDockerfile parses the Dockerfile with BuildKit's own parser (with its lint rules, as
// `docker build --check` runs them at parse time) and checks the image's shape: a Go
// builder, static binaries (CGO_ENABLED=0, -trimpath), both commands, never devstack, a
// distroless or scratch final stage running as a non-root user with orders as entrypoint.
func TestDockerfile(t *testing.T) {
	f, err := os.Open(deployPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		t.Errorf("Dockerfile lint %s: %s (%v)", rule, msg, loc)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stage(s): want a builder and a final stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.BaseName, "golang:1.26") {
		t.Errorf("builder stage FROM %s, want golang:1.26", build.BaseName)
	}
	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") && final.BaseName != "scratch" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static* or scratch", final.BaseName)
	}

	var builds []string
	cgoOff := false
	for _, cmd := range build.Commands {
		switch c := cmd.(type) {
		case *instructions.EnvCommand:
			cgoOff = cgoOff || slices.ContainsFunc(c.Env, func(kv instructions.KeyValuePair) bool {
				return kv.Key == "CGO_ENABLED" && kv.Value == "0"
			})
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			cgoOff = cgoOff || strings.Contains(line, "CGO_ENABLED=0 go build")
			if strings.Contains(line, "go build") {
				builds = append(builds, line)
			}
		}
	}
	if !cgoOff {
		t.Error("builder stage does not set CGO_ENABLED=0: the binaries would need libc")
	}
	all := strings.Join(builds, "\n")
	for _, want := range []string{"./cmd/orders", "./cmd/sellersim", "./cmd/httpprobe"} {
		if !strings.Contains(all, want) {
			t.Errorf("no go build of %s", want)
		}
	}
	if strings.Contains(all, "cmd/devstack") || strings.Contains(all, "./cmd/...") {
		t.Error("the image must not build cmd/devstack (it links the Temporal server)")
	}
	for _, b := range builds {
		if !strings.Contains(b, "-trimpath") {
			t.Errorf("go build without -trimpath: %s", b)
		}
	}

	var user string
	var entrypoint []string
	copied := false
	for _, cmd := range final.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entrypoint = c.CmdLine
		case *instructions.CopyCommand:
			copied = copied || c.From == build.Name
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("final stage USER %q: want a non-root user (65532)", user)
	} else if uid != "65532" && uid != "nonroot" {
		t.Errorf("final stage USER %q: want nonroot, 65532", user)
	}
	if len(entrypoint) == 0 || !strings.HasSuffix(entrypoint[0], "/orders") {
		t.Errorf("ENTRYPOINT %v, want the orders binary (exec form)", entrypoint)
	}
	if !copied {
		t.Errorf("final stage copies nothing from the builder stage %q", build.Name)
	}
}
