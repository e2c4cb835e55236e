package apidocs

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/contract"
	"github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

const committed = "../../../docs/api.md"

func load(t *testing.T) *contract.Metadata {
	t.Helper()
	m, err := contract.Load(hasura.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCommittedAPIReferenceIsCurrent(t *testing.T) {
	want, err := Render(load(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v: run make docs", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/api.md is stale (run make docs); first difference at line %d:\n committed: %s\n generated: %s", i+1, g, w)
			}
		}
	}
}

func TestEveryActionListsItsErrorsAndEveryCodeHasAMeaning(t *testing.T) {
	m := load(t)
	names := map[string]bool{}
	for _, a := range m.Actions {
		names[a.Name] = true
		if _, ok := ActionErrors[a.Name]; !ok {
			t.Errorf("action %s has no entry in ActionErrors", a.Name)
		}
	}
	for name, codes := range ActionErrors {
		if !names[name] {
			t.Errorf("ActionErrors lists %s, which is not an action of the metadata", name)
		}
		for _, c := range codes {
			if CodeMeaning[c] == "" {
				t.Errorf("%s: code %s has no meaning in CodeMeaning", name, c)
			}
		}
	}
	for _, c := range common {
		if CodeMeaning[c] == "" {
			t.Errorf("common code %s has no meaning", c)
		}
	}
}

// A changed action without regenerated docs fails: rendering a metadata with one action
// renamed gives another file than the committed one.
func TestAChangedActionChangesTheReference(t *testing.T) {
	m := load(t)
	before, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Actions {
		if m.Actions[i].Name == "useCoupon" {
			m.Actions[i].Permissions = append(m.Actions[i].Permissions, contract.ActionPermission{Role: "member"})
		}
	}
	after, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Fatal("giving useCoupon to member left the reference unchanged")
	}
	m.Actions = append(m.Actions, contract.Action{Name: "noErrorsListed"})
	if _, err := Render(m); err == nil {
		t.Fatal("an action without its errors rendered")
	}
}
