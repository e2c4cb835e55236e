package ctl_test

import (
	"path/filepath"
	"runtime"
	"testing"
)

// dataDir is the repository's data/ folder.
func dataDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "data")
}

// The example files of data/ work against the demo seeds, so an operator can copy them.
func TestTheExampleFilesOfDataAreAcceptedAsTheyAre(t *testing.T) {
	w := newWorld(t)
	data := dataDir(t)
	before := w.checksum(business...)
	w.want(w.run("import", "stores", filepath.Join(data, "stores.csv"), "--dry-run"), 0, "2 inserted, 0 updated, 1 unchanged")
	w.want(w.run("import", "rewards", filepath.Join(data, "rewards.csv"), "--dry-run"), 0, "1 inserted, 0 updated, 2 unchanged")
	w.want(w.run("hotfix", "apply", filepath.Join(data, "hotfix", "2026-06-01-goodwill-credit.sql"), "--reason", "example", "--dry-run"), 0, "UPDATE 0", "invariants hold")
	if w.checksum(business...) != before {
		t.Fatal("a dry run changed the database")
	}
	w.fakeS3("kk-images")
	w.want(w.run("images", "upload", filepath.Join(data, "images", "rewards"), "--kind", "rewards"), 0, "3 files: 3 uploaded")
	w.want(w.run("images", "upload", filepath.Join(data, "images", "stores"), "--kind", "stores"), 0, "1 files: 1 uploaded")
}
