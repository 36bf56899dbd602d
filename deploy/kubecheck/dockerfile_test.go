package kubecheck

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const dockerfilePath = "../Dockerfile"

// repoRoot is the parent module's directory (deploy/..).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.Contains(data, []byte("module github.com/vbproxy/vbproxy\n")) {
		t.Fatalf("%s/go.mod is not the vbproxy module (err %v)", root, err)
	}
	return root
}

func parseOurDockerfile(t *testing.T) []Stage {
	t.Helper()
	src, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	stages, err := ParseDockerfile(string(src))
	if err != nil {
		t.Fatal(err)
	}
	return stages
}

// execForm decodes a JSON-array (exec form) ENTRYPOINT or CMD.
func execForm(t *testing.T, in Instruction) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(in.Args), &out); err != nil {
		t.Fatalf("Dockerfile line %d: %s %s: want the exec (JSON array) form: %v", in.Line, in.Cmd, in.Args, err)
	}
	return out
}

func dockerfileCmd(t *testing.T) []string {
	t.Helper()
	stages := parseOurDockerfile(t)
	cmds := stages[len(stages)-1].Find("CMD")
	if len(cmds) != 1 {
		t.Fatalf("final stage: %d CMD instructions, want 1", len(cmds))
	}
	return execForm(t, cmds[0])
}

// TestDockerfile checks the image recipe against the requirements and
// against the manifests: a static, trimmed, version-stamped build of
// ./cmd/vbproxy; a distroless or scratch final stage running as the non-root
// user the Deployment expects; the config path and ports the manifests use.
func TestDockerfile(t *testing.T) {
	stages := parseOurDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("stages = %d, want a multi-stage build", len(stages))
	}
	build := stages[0]
	var buildCmd string
	for _, in := range build.Find("RUN") {
		if strings.Contains(in.Args, "go build") {
			buildCmd = in.Args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/vbproxy"} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("build stage go build %q: missing %q", buildCmd, want)
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot(t), "go.sum")); err != nil {
		t.Errorf("the Dockerfile copies go.sum, but the repository has none: %v", err)
	}

	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.Base, "gcr.io/distroless/static") && final.Base != "scratch" {
		t.Errorf("final base %q, want distroless static or scratch", final.Base)
	}
	users := final.Find("USER")
	if len(users) != 1 {
		t.Fatalf("final stage: %d USER instructions, want 1", len(users))
	}
	uid, _, _ := strings.Cut(users[0].Args, ":")
	if uid == "0" || uid == "root" {
		t.Errorf("USER %s, want non-root", users[0].Args)
	}

	objs, _, err := Build(filepath.Join(kubeDir, "base"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := CheckWorkload(objs, WorkloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc := w.Deployment.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid {
		t.Errorf("Deployment runAsUser differs from the image's USER %s", uid)
	}
	var exposed []int
	for _, in := range final.Find("EXPOSE") {
		for _, f := range strings.Fields(in.Args) {
			p, err := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
			if err != nil {
				t.Errorf("EXPOSE %s: %v", f, err)
			}
			exposed = append(exposed, p)
		}
	}
	for _, p := range append(w.Config.ListenerPorts(), w.Config.AdminPort()) {
		if !slices.Contains(exposed, p) {
			t.Errorf("EXPOSE %v: missing port %d of the base config", exposed, p)
		}
	}
	if got, ok := flagValue(dockerfileCmd(t), "config"); !ok || got != "/etc/vbproxy/vbproxy.yaml" {
		t.Errorf("CMD -config = %q (found %v), want /etc/vbproxy/vbproxy.yaml", got, ok)
	}
	entry := final.Find("ENTRYPOINT")
	if len(entry) != 1 {
		t.Fatalf("final stage: %d ENTRYPOINT instructions, want 1", len(entry))
	}
	bin := execForm(t, entry[0])
	var copied bool
	for _, in := range final.Find("COPY") {
		if strings.HasPrefix(in.Args, "--from=") && strings.HasSuffix(in.Args, " "+bin[0]) {
			copied = true
		}
	}
	if !copied {
		t.Errorf("ENTRYPOINT %v: the final stage copies no binary to %s", bin, bin[0])
	}
}
