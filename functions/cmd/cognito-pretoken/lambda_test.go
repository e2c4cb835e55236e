package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// make lambda twice, the second time with an empty build cache (every package compiled again,
// as on another machine with the same Go): the same bytes, and a zip the provided.al2023
// runtime on arm64 runs, one executable bootstrap, statically linked.
func TestMakeLambdaBuildsTheSameZipForProvidedAL2023OnArm64(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed: the Lambda is built with make lambda")
	}
	root := filepath.Join("..", "..", "..")
	build := func(env ...string) []byte {
		dir := t.TempDir()
		cmd := exec.Command("make", "-s", "-C", root, "lambda", "LAMBDA_DIR="+dir)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make lambda: %v\n%s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "cognito-pretoken.zip"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := build()
	if second := build("GOCACHE=" + t.TempDir()); !bytes.Equal(first, second) {
		t.Fatalf("two builds of the same source differ: %d and %d bytes", len(first), len(second))
	}

	z, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	if len(z.File) != 1 || z.File[0].Name != "bootstrap" {
		t.Fatalf("the zip holds %d files (first %q); the runtime runs one, bootstrap", len(z.File), z.File[0].Name)
	}
	if mode := z.File[0].Mode(); mode&0o111 == 0 || !mode.IsRegular() {
		t.Fatalf("bootstrap has mode %v: the runtime cannot execute it", mode)
	}
	r, err := z.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("bootstrap is not an ELF executable: %v", err)
	}
	if exe.Machine != elf.EM_AARCH64 || exe.Class != elf.ELFCLASS64 {
		t.Fatalf("bootstrap is for %v %v, not arm64", exe.Machine, exe.Class)
	}
	for _, p := range exe.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("bootstrap needs a dynamic loader; the runtime's image has only what the zip brings")
		}
	}
}
