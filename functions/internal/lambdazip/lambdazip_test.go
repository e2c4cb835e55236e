package lambdazip_test

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/lambdazip"
)

func zipped(t *testing.T, files ...lambdazip.File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := lambdazip.Write(&b, files); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTheSameFilesZipToTheSameBytesAtAnotherTime(t *testing.T) {
	bootstrap := make([]byte, 1<<20)
	rand.Read(bootstrap)
	first := zipped(t, lambdazip.File{Name: "bootstrap", Data: bootstrap})
	time.Sleep(1100 * time.Millisecond) // a zip stamped with the clock would now differ: zip keeps whole seconds
	second := zipped(t, lambdazip.File{Name: "bootstrap", Data: bootstrap})
	if !bytes.Equal(first, second) {
		t.Fatal("two zips of the same file differ")
	}
	changed := bytes.Clone(bootstrap)
	changed[0] ^= 1
	if bytes.Equal(first, zipped(t, lambdazip.File{Name: "bootstrap", Data: changed})) {
		t.Fatal("a changed file zipped to the same bytes")
	}
}

func TestTheEntriesAreExecutableWithAFixedTimeAndReadBack(t *testing.T) {
	data := []byte("#!/bin/sh\necho hello\n")
	b := zipped(t, lambdazip.File{Name: "bootstrap", Data: data}, lambdazip.File{Name: "README", Data: []byte("x")})
	r, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != 2 || r.File[0].Name != "bootstrap" || r.File[1].Name != "README" {
		t.Fatalf("entries %v, want bootstrap then README", r.File)
	}
	f := r.File[0]
	if f.Mode() != 0o755 {
		t.Errorf("mode %v, want -rwxr-xr-x: the runtime must be able to execute bootstrap", f.Mode())
	}
	if want := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC); !f.Modified.Equal(want) {
		t.Errorf("modified %v, want %v", f.Modified, want)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, data) {
		t.Errorf("read back %q, want %q", got, data)
	}
}
