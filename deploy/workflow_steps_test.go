package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The deploy's last gate runs as GitHub runs a step (bash -e), with a stand-in hasura CLI on
// PATH that answers as the real one does: nothing on stdout when the metadata is consistent,
// a JSON list of the inconsistent objects when not.
func TestTheInconsistencyStepPassesConsistentMetadataOnlyAsTheCLIAnswersIt(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is not installed (GitHub's runners have it; apt-get install jq)")
	}
	d, err := readYAML(filepath.Join(repo, ".github/workflows/deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := get(d, "jobs", "deploy", "steps").([]any)
	var script string
	for _, s := range steps {
		if m, _ := s.(map[string]any); str(m["id"]) == "inconsistency" {
			script = str(m["run"])
		}
	}
	if script == "" {
		t.Fatal("deploy.yml has no inconsistency step with a run script")
	}
	for _, c := range []struct {
		name, stdout string
		passes       bool
	}{
		{"consistent: nothing on stdout", "", true},
		{"consistent: an empty list", "[]", true},
		{"one inconsistent object", `[{"type":"table","reason":"no such table","definition":{"name":"gone","schema":"public"}}]`, false},
		{"an answer that is not JSON", "time=... level=error msg=unauthorized", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin, tmp := t.TempDir(), t.TempDir()
			answer := filepath.Join(tmp, "answer")
			if err := os.WriteFile(answer, []byte(c.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			fake := "#!/usr/bin/env bash\nif [[ \" $* \" == *' -o json '* ]]; then cat " + answer + "; fi\necho 'metadata is consistent' >&2\n"
			if err := os.WriteFile(filepath.Join(bin, "hasura"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "RUNNER_TEMP="+tmp)
			out, err := cmd.CombinedOutput()
			if passed := err == nil; passed != c.passes {
				t.Fatalf("the step passed = %v, want %v; output:\n%s", passed, c.passes, out)
			}
		})
	}
}
